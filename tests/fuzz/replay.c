/*
 * replay.c - a main() for fuzz targets in ordinary builds: feeds the target
 *            every file under the directories given (and a set of built-in
 *            edge cases), so the targets compile and run in every test run.
 *            With -DSPATE_FUZZ=ON the targets link libFuzzer's main instead.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* run_file - feed one file to the target */
static int
run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long n;
    if (f == NULL)
        return 0;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (n < 0 || (buf = malloc((size_t)n + 1)) == NULL) {
        fclose(f);
        return 0;
    }
    if (fread(buf, 1, (size_t)n, f) == (size_t)n)
        LLVMFuzzerTestOneInput(buf, (size_t)n);
    free(buf);
    fclose(f);
    return 1;
}

/* main - built-in inputs, then every file of each directory argument */
int
main(int argc, char **argv)
{
    static const char *const builtin[] = {
        "",
        "\0",
        "\r\n",
        "MAIL FROM:<>\r\n",
        "{\"a\":",
        "${if eq{a}{b}{x}{y}}",
        "begin routers\n",
        "\xff\xfe\xfd",
        "<@a,@b:u@d>",
        "dnslookup:\n driver = dnslookup\n",
    };
    long files = 0;
    for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++)
        LLVMFuzzerTestOneInput((const uint8_t *)builtin[i], strlen(builtin[i]) + (i == 1));
    for (int i = 1; i < argc; i++) {
        DIR *d = opendir(argv[i]);
        struct dirent *de;
        if (d == NULL)
            continue;
        while ((de = readdir(d)) != NULL) {
            char path[4096];
            if (de->d_name[0] == '.')
                continue;
            snprintf(path, sizeof(path), "%s/%s", argv[i], de->d_name);
            files += run_file(path);
        }
        closedir(d);
    }
    printf("replayed %zu built-in inputs and %ld files\n", sizeof(builtin) / sizeof(builtin[0]),
           files);
    return 0;
}
