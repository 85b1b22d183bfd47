#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("kuractl %s\n", KURA_VERSION);
        return 0;
    }
    fprintf(stderr, "usage: kuractl COMMAND [ARGS...]; see kuractl --help\n");
    return 2;
}
