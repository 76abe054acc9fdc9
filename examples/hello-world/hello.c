/* A static program for a FROM scratch image: no shell, no libc files, no other file at all. */
#include <stdio.h>
#include <unistd.h>

int main(void)
{
    char host[256] = "?";
    gethostname(host, sizeof host - 1);
    printf("Hello from dockyard!\n"
           "\n"
           "This message comes from a static C program, the only file of an image built\n"
           "FROM scratch by a multi-stage Dockerfile: a Debian stage compiled it with gcc,\n"
           "the final stage copied in the binary and nothing else.\n"
           "\n"
           "It runs as process %d in container %s.\n",
           (int)getpid(), host);
    return 0;
}
