#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("kurafs %s\n", KURA_VERSION);
        return 0;
    }
    fprintf(stderr, "usage: kurafs [-c FILE] [-f] [-o OPTIONS] MOUNTPOINT\n");
    return 2;
}
