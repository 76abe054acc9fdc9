/* The escape probe of tests/robustness/test_escapes.py: run inside a container, it tries what
 * a process breaking out would try and prints ONE JSON line. Static, so it runs in any rootfs
 * (busybox under dockyard and under docker). Built by escapes_support.probe_binary() with
 * `gcc -static -O2`.
 *
 * Modes:
 *   probe syscalls MAJ:MIN   each attempt of SECURITY.md section 2 / issue 11 in a forked
 *                            child: {"name": 0 when it succeeded, else the errno, ...};
 *                            MAJ:MIN is a host block device for the raw-disk attempt.
 *   probe fds                {"fds": ["N -> target", ...], "cwd": "..."} of this process.
 *   probe flip A B           forever: renameat2(A, B, RENAME_EXCHANGE) (the cp race).
 *   probe exe-attack SECS    CVE-2019-5736: for SECS seconds, open /proc/<pid>/exe of every
 *                            other visible pid (O_PATH, then O_RDONLY / O_WRONLY through
 *                            /proc/self/fd/N): {"attempts": N, "seen": {"exe": [held,
 *                            readable, writable], ...}}.
 *
 * Nothing here harms a host when an attempt succeeds (the --privileged control runs): opens are
 * closed without writing, the module image is invalid, the bpf map is freed, the mount is in
 * the probe's own child.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static unsigned raw_major, raw_minor;

static int err(long rc) { return rc < 0 ? errno : 0; }

static int open_close(const char *path, int flags) {
    int fd = open(path, flags | O_CLOEXEC);
    if (fd < 0) return errno;
    close(fd);
    return 0;
}

static int t_mount(void) {
    mkdir("/tmp/.mnt", 0700);
    return err(mount("none", "/tmp/.mnt", "tmpfs", 0, "size=1m"));
}
/* A mount the container has (a bind of a host file); detaching it harms nothing. */
static int t_umount(void) { return err(umount2("/etc/hostname", MNT_DETACH)); }
static int t_unshare_mnt(void) { return err(unshare(CLONE_NEWNS)); }
static int t_unshare_user(void) { return err(unshare(CLONE_NEWUSER)); }
static int t_setns(void) {
    int fd = open("/proc/1/ns/mnt", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno;
    return err(setns(fd, CLONE_NEWNS));
}
static int t_keyctl(void) {
    return err(syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -3 /* session */, 0));
}
static int t_add_key(void) {
    return err(syscall(SYS_add_key, "user", "escape-probe", "x", 1, -3));
}
static int t_bpf(void) {
    unsigned int attr[32] = {0};
    attr[0] = 2; /* BPF_MAP_TYPE_ARRAY */
    attr[1] = 4; /* key size */
    attr[2] = 4; /* value size */
    attr[3] = 1; /* max entries */
    long fd = syscall(SYS_bpf, 0 /* BPF_MAP_CREATE */, attr, sizeof attr);
    if (fd < 0) return errno;
    close((int)fd);
    return 0;
}
static int t_open_by_handle_at(void) {
    /* The "shocker" escape: open_by_handle_at() against the fd of a host file bind-mounted in
     * (/etc/hostname), with that file's own handle or, where the filesystem gives none, a
     * forged one for its root directory (ext4: inode 2, generation 0). Closed unread. */
    struct { unsigned int bytes; int type; unsigned int f[32]; } h = {.bytes = 128};
    int mount_id;
    int host = open("/etc/hostname", O_RDONLY | O_CLOEXEC);
    if (host < 0) return errno;
    if (syscall(SYS_name_to_handle_at, AT_FDCWD, "/etc/hostname", &h, &mount_id, 0) < 0) {
        h.bytes = 8;
        h.type = 1; /* FILEID_INO32_GEN */
        h.f[0] = 2;
        h.f[1] = 0;
    }
    long fd = syscall(SYS_open_by_handle_at, host, &h, O_RDONLY);
    if (fd < 0) return errno;
    close((int)fd);
    return 0;
}
static int t_proc_sys(void) { return open_close("/proc/sys/kernel/domainname", O_WRONLY); }
static int t_sysrq(void) { return open_close("/proc/sysrq-trigger", O_WRONLY); }
static int t_sys(void) {
    static const char *paths[] = {"/sys/kernel/uevent_helper", "/sys/kernel/profiling",
                                  "/sys/power/state", NULL};
    int last = ENOENT;
    for (int i = 0; paths[i] && last == ENOENT; i++) last = open_close(paths[i], O_WRONLY);
    return last;
}
static int t_release_agent(void) {
    /* CVE-2022-0492: a cgroup v1 release_agent runs as host root. Any hierarchy will do. */
    static const char *paths[] = {"/sys/fs/cgroup/memory/release_agent",
                                  "/sys/fs/cgroup/cpu/release_agent",
                                  "/sys/fs/cgroup/pids/release_agent",
                                  "/sys/fs/cgroup/release_agent", NULL};
    int last = ENOENT;
    for (int i = 0; paths[i]; i++) {
        last = open_close(paths[i], O_WRONLY);
        if (!last) return 0;
    }
    return last;
}
static int t_cgroup_mount(void) {
    mkdir("/tmp/.cg", 0700);
    return err(mount("cgroup", "/tmp/.cg", "cgroup", 0, "memory"));
}
static int t_kcore(void) {
    char buf[16];
    int fd = open("/proc/kcore", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno;
    ssize_t n = read(fd, buf, sizeof buf);
    int e = errno;
    close(fd);
    if (n < 0) return e;
    return n > 0 ? 0 : ENODATA; /* masked with /dev/null: opens, reads nothing */
}
static int t_init_module(void) {
    static char image[64]; /* not an ELF module: refused after the permission check */
    return err(syscall(SYS_init_module, image, sizeof image, ""));
}
static int t_finit_module(void) {
    int fd = open("/bin/busybox", O_RDONLY | O_CLOEXEC);
    if (fd < 0) fd = open("/probe", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno;
    return err(syscall(SYS_finit_module, fd, "", 0));
}
static int t_delete_module(void) { return err(syscall(SYS_delete_module, "escape_probe", 0)); }
static int t_mknod_block(void) {
    unlink("/tmp/.rawdisk");
    return err(mknod("/tmp/.rawdisk", S_IFBLK | 0600, makedev(raw_major, raw_minor)));
}
static int t_raw_disk(void) {
    /* Open (never read) the host's disk through a node made here. */
    unlink("/tmp/.rawdisk");
    if (mknod("/tmp/.rawdisk", S_IFBLK | 0600, makedev(raw_major, raw_minor)) < 0) return errno;
    int e = open_close("/tmp/.rawdisk", O_RDONLY);
    unlink("/tmp/.rawdisk");
    return e;
}
static int t_perf_event_open(void) {
    unsigned int attr[32] = {0};
    attr[0] = 1;           /* PERF_TYPE_SOFTWARE */
    attr[1] = sizeof attr; /* size */
    long fd = syscall(SYS_perf_event_open, attr, 0, -1, -1, 0);
    if (fd < 0) return errno;
    close((int)fd);
    return 0;
}
static int t_pivot_root(void) { return err(syscall(SYS_pivot_root, "/tmp", "/tmp")); }
static int t_iopl(void) {
#ifdef SYS_iopl
    return err(syscall(SYS_iopl, 3));
#else
    return ENOSYS;
#endif
}
static const struct { const char *name; int (*fn)(void); } TESTS[] = {
    {"mount", t_mount},
    {"unshare_mnt", t_unshare_mnt},
    {"unshare_user", t_unshare_user},
    {"setns", t_setns},
    {"pivot_root", t_pivot_root},
    {"keyctl", t_keyctl},
    {"add_key", t_add_key},
    {"bpf", t_bpf},
    {"perf_event_open", t_perf_event_open},
    {"open_by_handle_at", t_open_by_handle_at},
    {"write_proc_sys", t_proc_sys},
    {"write_sysrq_trigger", t_sysrq},
    {"write_sys", t_sys},
    {"write_release_agent", t_release_agent},
    {"mount_cgroup", t_cgroup_mount},
    {"read_kcore", t_kcore},
    {"init_module", t_init_module},
    {"finit_module", t_finit_module},
    {"delete_module", t_delete_module},
    {"mknod_block", t_mknod_block},
    {"open_raw_disk", t_raw_disk},
    {"iopl", t_iopl},
    /* last: it detaches /etc/hostname, which open_by_handle_at uses */
    {"umount2", t_umount},
};

static int syscalls(void) {
    printf("{");
    for (size_t i = 0; i < sizeof TESTS / sizeof *TESTS; i++) {
        pid_t pid = fork();
        if (pid == 0) _exit(TESTS[i].fn() & 0xff);
        int status = 0;
        int result = -1;
        if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status))
            result = WEXITSTATUS(status);
        printf("%s\"%s\":%d", i ? "," : "", TESTS[i].name, result);
    }
    printf("}\n");
    return 0;
}

static int fds(void) {
    char path[300], target[4096], cwd[4096];
    int first = 1;
    DIR *d = opendir("/proc/self/fd");
    if (!d) return 1;
    printf("{\"fds\":[");
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || atoi(e->d_name) == dirfd(d)) continue;
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        ssize_t len = readlink(path, target, sizeof target - 1);
        target[len < 0 ? 0 : len] = 0;
        printf("%s\"%s -> ", first ? "" : ",", e->d_name);
        for (char *c = target; *c; c++) {
            if (*c == '"' || *c == '\\') putchar('\\');
            if ((unsigned char)*c >= 0x20) putchar(*c);
        }
        putchar('"');
        first = 0;
    }
    closedir(d);
    printf("],\"cwd\":\"%s\"}\n", getcwd(cwd, sizeof cwd) ? cwd : "");
    return 0;
}

static int flip(const char *a, const char *b) {
    for (;;)
        if (syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, 2 /* RENAME_EXCHANGE */) < 0) {
            perror("renameat2");
            return 1;
        }
}

/* What exe_attack saw, per exe name: held (O_PATH), readable, writable. */
static struct { char name[256]; long held, readable, writable; } seen[32];
static int nseen;

static int seen_index(const char *name) {
    for (int i = 0; i < nseen; i++)
        if (!strcmp(seen[i].name, name)) return i;
    if (nseen == 32) return 31;
    snprintf(seen[nseen].name, sizeof seen[nseen].name, "%s", name);
    return nseen++;
}

static int exe_attack(int seconds) {
    time_t end = time(NULL) + seconds;
    long attempts = 0;
    char path[300], name[256];
    while (time(NULL) < end) {
        DIR *d = opendir("/proc");
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (e->d_name[0] < '0' || e->d_name[0] > '9' || atoi(e->d_name) == getpid()) continue;
            snprintf(path, sizeof path, "/proc/%s/exe", e->d_name);
            attempts++;
            int fd = open(path, O_PATH | O_CLOEXEC);
            if (fd < 0) continue;
            snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
            ssize_t len = readlink(path, name, sizeof name - 1);
            name[len < 0 ? 0 : len] = 0;
            int i = seen_index(name);
            seen[i].held++;
            /* The CVE-2019-5736 step: reopen the held exe for writing through the fd. */
            int w = open(path, O_WRONLY | O_CLOEXEC);
            if (w >= 0) { seen[i].writable++; close(w); }
            int r = open(path, O_RDONLY | O_CLOEXEC);
            if (r >= 0) { seen[i].readable++; close(r); }
            close(fd);
        }
        if (d) closedir(d);
    }
    printf("{\"attempts\":%ld,\"seen\":{", attempts);
    for (int i = 0; i < nseen; i++) {
        printf("%s\"", i ? "," : "");
        for (char *c = seen[i].name; *c; c++)
            if (*c != '"' && *c != '\\' && (unsigned char)*c >= 0x20) putchar(*c);
        printf("\":[%ld,%ld,%ld]", seen[i].held, seen[i].readable, seen[i].writable);
    }
    printf("}}\n");
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOFBF, 1 << 16);
    if (argc > 2 && !strcmp(argv[1], "syscalls")) {
        /* The attempts change the namespace they run in (a mount, a key): never on a host. */
        if (strcmp(argv[0], "/probe") || getpid() > 1000) {
            fprintf(stderr, "probe syscalls: run it as /probe inside a container\n");
            return 2;
        }
        if (sscanf(argv[2], "%u:%u", &raw_major, &raw_minor) != 2) return 2;
        return syscalls();
    }
    if (argc > 1 && !strcmp(argv[1], "fds")) return fds();
    if (argc > 3 && !strcmp(argv[1], "flip")) return flip(argv[2], argv[3]);
    if (argc > 2 && !strcmp(argv[1], "exe-attack")) return exe_attack(atoi(argv[2]));
    fprintf(stderr, "usage: probe syscalls MAJ:MIN | fds | flip A B | exe-attack SECONDS\n");
    return 2;
}
