/*
 * run_inputs.c - a main for the harnesses outside libFuzzer: runs each file
 * named (or each file in each folder named) through LLVMFuzzerTestOneInput,
 * so that the seed corpora and the inputs that once crashed are tests of
 * the normal and the sanitizer builds.
 */
#include "fuzz.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    uint8_t *data = NULL;
    size_t len = 0, cap = 0, got;
    do {
        if (len == cap)
            data = realloc(data, cap = cap ? 2 * cap : 65536);
        got = fread(data + len, 1, cap - len, f);
        len += got;
    } while (got > 0);
    fclose(f);
    LLVMFuzzerTestOneInput(data, len);
    free(data);
    return 0;
}

int main(int argc, char **argv)
{
    int files = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            DIR *d = opendir(argv[i]);
            for (struct dirent *e; d && (e = readdir(d));) {
                if (e->d_name[0] == '.')
                    continue;
                char path[4096];
                snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
                if (run_file(path) < 0)
                    return 1;
                files++;
            }
            if (d)
                closedir(d);
        } else if (run_file(argv[i]) < 0) {
            return 1;
        } else {
            files++;
        }
    }
    printf("%d inputs, no failure\n", files);
    return files > 0 ? 0 : 1;
}
