/* The runtime test probe: run as a container process, it prints ONE JSON object describing
 * what the process sees (ids, capabilities, seccomp, mounts, masked and read-only paths, fds,
 * rlimits, cwd, umask, cgroups, environment, /dev). Static, so it runs in any rootfs.
 * Built by tests/runtime/conftest.py with `gcc -static -O2 -o probe probe.c`.
 *
 * Modes: `probe` (the report), `probe exe-attack SECONDS` (loop trying to open every
 * /proc/<pid>/exe but its own for writing and for reading; prints how many opens succeeded), `probe alloc MIB` (touch
 * MIB mebibytes, then print "ok"), `probe forkbomb N` (fork up to N children; print how many
 * forks succeeded), `probe exit N` (exit with status N). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;
static int first;

static void str(const char *s) {
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20 || c >= 0x7f) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}
static void key(const char *k) {
    if (!first) putchar(',');
    first = 0;
    str(k);
    putchar(':');
}
static void kstr(const char *k, const char *v) { key(k); str(v); }
static void kint(const char *k, long long v) { key(k); printf("%lld", v); }

static int cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}
/* Print a sorted JSON array of the n strings in v, freeing them. */
static void sorted_array(char **v, int n) {
    qsort(v, n, sizeof *v, cmp);
    putchar('[');
    for (int i = 0; i < n; i++) {
        if (i) putchar(',');
        str(v[i]);
        free(v[i]);
    }
    putchar(']');
}

static void status_fields(void) {
    static const char *want[] = {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb",
                                 "NoNewPrivs", "Seccomp", "Seccomp_filters", NULL};
    char line[512];
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (!colon) continue;
        *colon = 0;
        for (int i = 0; want[i]; i++) {
            if (strcmp(line, want[i])) continue;
            char *v = colon + 1;
            while (*v == ' ' || *v == '\t') v++;
            v[strcspn(v, "\n")] = 0;
            kstr(line, v);
        }
    }
    fclose(f);
}

/* mountinfo: "id parent maj:min root mountpoint opts [optional...] - fstype source superopts" */
static void mounts(void) {
    char line[4096], *v[512];
    int n = 0;
    FILE *f = fopen("/proc/self/mountinfo", "r");
    key("mounts");
    if (!f) { printf("null"); return; }
    while (n < 512 && fgets(line, sizeof line, f)) {
        char *fields[8] = {0}, *save = NULL, *tok = strtok_r(line, " \n", &save);
        int i = 0;
        while (tok && i < 6) { fields[i++] = tok; tok = strtok_r(NULL, " \n", &save); }
        while (tok && strcmp(tok, "-")) tok = strtok_r(NULL, " \n", &save);
        char *fstype = strtok_r(NULL, " \n", &save);
        strtok_r(NULL, " \n", &save); /* source: host-specific, left out */
        char *super = strtok_r(NULL, " \n", &save);
        if (i < 6 || !fstype) continue;
        char buf[4096];
        snprintf(buf, sizeof buf, "%s %s %s %s", fields[4], fstype, fields[5], super ? super : "");
        v[n++] = strdup(buf);
    }
    fclose(f);
    sorted_array(v, n);
}

static void fds(void) {
    char *v[1024], path[300], target[4096];
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    key("fds");
    if (!d) { printf("null"); return; }
    struct dirent *e;
    while ((e = readdir(d)) && n < 1024) {
        if (e->d_name[0] == '.' || atoi(e->d_name) == dirfd(d)) continue;
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        ssize_t len = readlink(path, target, sizeof target - 1);
        target[len < 0 ? 0 : len] = 0;
        char buf[4400];
        snprintf(buf, sizeof buf, "%s -> %s", e->d_name, target);
        v[n++] = strdup(buf);
    }
    closedir(d);
    sorted_array(v, n);
}

static void dev_listing(void) {
    char *v[512], path[512], target[512], buf[1200];
    int n = 0;
    DIR *d = opendir("/dev");
    key("dev");
    if (!d) { printf("null"); return; }
    struct dirent *e;
    while ((e = readdir(d)) && n < 512) {
        struct stat st;
        if (e->d_name[0] == '.' && (!e->d_name[1] || !strcmp(e->d_name, ".."))) continue;
        snprintf(path, sizeof path, "/dev/%s", e->d_name);
        if (lstat(path, &st)) continue;
        if (S_ISLNK(st.st_mode)) {
            ssize_t len = readlink(path, target, sizeof target - 1);
            target[len < 0 ? 0 : len] = 0;
            snprintf(buf, sizeof buf, "%s l -> %s", e->d_name, target);
        } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
            snprintf(buf, sizeof buf, "%s %c %u:%u %04o %u:%u", e->d_name,
                     S_ISCHR(st.st_mode) ? 'c' : 'b', major(st.st_rdev), minor(st.st_rdev),
                     st.st_mode & 07777, st.st_uid, st.st_gid);
        } else {
            snprintf(buf, sizeof buf, "%s %c %04o", e->d_name, S_ISDIR(st.st_mode) ? 'd' : 'f',
                     st.st_mode & 07777);
        }
        v[n++] = strdup(buf);
    }
    closedir(d);
    sorted_array(v, n);
}

static void rlimits(void) {
    key("rlimits");
    putchar('[');
    for (int r = 0; r < RLIM_NLIMITS; r++) {
        struct rlimit rl;
        getrlimit(r, &rl);
        printf("%s[%lld,%lld]", r ? "," : "", rl.rlim_cur == RLIM_INFINITY ? -1LL : (long long)rl.rlim_cur,
               rl.rlim_max == RLIM_INFINITY ? -1LL : (long long)rl.rlim_max);
    }
    putchar(']');
}

/* errno of an open for writing (0: it opened). */
static int open_errno(const char *path, int flags) {
    int fd = open(path, flags | O_CLOEXEC);
    if (fd < 0) return errno;
    close(fd);
    return 0;
}

static void checks(void) {
    char buf[16];
    struct stat st;
    int fd = open("/proc/kcore", O_RDONLY | O_CLOEXEC);
    kint("kcore_open_errno", fd < 0 ? errno : 0);
    kint("kcore_read", fd < 0 ? -1 : (long long)read(fd, buf, sizeof buf));
    kint("kcore_size", stat("/proc/kcore", &st) ? -1 : (long long)st.st_size);
    if (fd >= 0) close(fd);
    fd = open("/proc/keys", O_RDONLY | O_CLOEXEC);
    kint("keys_read", fd < 0 ? -1 : (long long)read(fd, buf, sizeof buf));
    if (fd >= 0) close(fd);
    kint("proc_sys_write_errno", open_errno("/proc/sys/kernel/domainname", O_WRONLY));
    kint("sysrq_write_errno", open_errno("/proc/sysrq-trigger", O_WRONLY));
    kint("sys_write_errno", open_errno("/sys/kernel/uevent_helper", O_WRONLY));
    int root_rw = open("/.probe-rw", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    kint("root_write_errno", root_rw < 0 ? errno : 0);
    if (root_rw >= 0) { close(root_rw); unlink("/.probe-rw"); }
    int made = mkdir("/tmp/.probe-mkdir", 0755);
    kint("mkdir_errno", made ? errno : 0);
    if (!made) rmdir("/tmp/.probe-mkdir");
}

static void report(void) {
    char buf[4096];
    struct utsname u;
    first = 1;
    putchar('{');
    kint("pid", getpid());
    kint("ppid", getppid());
    kint("sid_is_self", getsid(0) == getpid());
    uname(&u);
    kstr("hostname", u.nodename);
    kstr("domainname", u.domainname);
    kint("uid", getuid()); kint("euid", geteuid());
    kint("gid", getgid()); kint("egid", getegid());
    gid_t groups[256];
    int ng = getgroups(256, groups);
    key("groups");
    putchar('[');
    for (int i = 0; i < ng; i++) printf("%s%u", i ? "," : "", groups[i]);
    putchar(']');
    status_fields();
    mounts();
    checks();
    fds();
    rlimits();
    kstr("cwd", getcwd(buf, sizeof buf) ? buf : "");
    mode_t mask = umask(0);
    umask(mask);
    kint("umask", mask);
    int fd = open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC);
    ssize_t len = fd < 0 ? 0 : read(fd, buf, sizeof buf - 1);
    buf[len < 0 ? 0 : len] = 0;
    if (fd >= 0) close(fd);
    kstr("cgroup", buf);
    int n = 0;
    for (char **e = environ; *e; e++) n++;
    char **env = malloc(sizeof(char *) * (n + 1));
    for (int i = 0; i < n; i++) env[i] = strdup(environ[i]);
    key("env");
    sorted_array(env, n);
    free(env);
    dev_listing();
    kint("stdin_isatty", isatty(0));
    puts("}");
}

/* Try open("/proc/<pid>/exe", O_WRONLY) on every visible pid until `seconds` pass. */
static int exe_attack(int seconds) {
    time_t end = time(NULL) + seconds;
    long attempts = 0, opened = 0, readable = 0;
    char path[300];
    while (time(NULL) < end) {
        DIR *d = opendir("/proc");
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (e->d_name[0] < '0' || e->d_name[0] > '9' || atoi(e->d_name) == getpid()) continue;
            snprintf(path, sizeof path, "/proc/%s/exe", e->d_name);
            int fd = open(path, O_WRONLY | O_CLOEXEC);
            attempts++;
            if (fd >= 0) { opened++; close(fd); }
            fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fd >= 0) { readable++; close(fd); }
        }
        if (d) closedir(d);
    }
    printf("{\"attempts\":%ld,\"opened\":%ld,\"readable\":%ld}\n", attempts, opened, readable);
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 2 && !strcmp(argv[1], "exe-attack")) return exe_attack(atoi(argv[2]));
    if (argc > 2 && !strcmp(argv[1], "exit")) return atoi(argv[2]);
    if (argc > 2 && !strcmp(argv[1], "alloc")) {
        long mib = atol(argv[2]);
        for (long i = 0; i < mib; i++) {
            char *p = malloc(1 << 20);
            if (!p) { puts("malloc failed"); return 1; }
            memset(p, 1, 1 << 20);
        }
        puts("ok");
        return 0;
    }
    if (argc > 2 && !strcmp(argv[1], "forkbomb")) {
        int want = atoi(argv[2]), made = 0;
        for (int i = 0; i < want; i++) {
            pid_t pid = fork();
            if (pid == 0) { pause(); _exit(0); }
            if (pid < 0) break;
            made++;
        }
        printf("{\"forked\":%d}\n", made);
        fflush(stdout);
        kill(0, SIGKILL);
        return 0;
    }
    report();
    return 0;
}
