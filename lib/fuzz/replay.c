/*
 * replay.c — the main() of every fuzz target when it is not built with
 * libFuzzer: feeds each file named on the command line (each file of a
 * named directory, in name order) to LLVMFuzzerTestOneInput once. CTest
 * runs it over the target's corpus in every build, so the corpora (and
 * the crashes found, kept there as regression inputs) replay under the
 * sanitizers in ordinary CI without clang.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0, n;

    if (fp == NULL) {
        perror(path);
        return -1;
    }
    do {
        if (len == cap) {
            cap = cap ? cap * 2 : 4096;
            buf = realloc(buf, cap);
            if (buf == NULL)
                abort();
        }
        n = fread(buf + len, 1, cap - len, fp);
        len += n;
    } while (n > 0);
    fclose(fp);
    /* An exact-size copy, so that ASan sees a read past the input. */
    uint8_t *exact = malloc(len ? len : 1);
    if (exact == NULL)
        abort();
    memcpy(exact, buf, len);
    free(buf);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    return 0;
}

static int replay_cmp(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

int main(int argc, char **argv)
{
    size_t done = 0;

    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) < 0) {
            perror(argv[i]);
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            if (replay_file(argv[i]) < 0)
                return 1;
            done++;
            continue;
        }
        struct dirent **names;
        int n = scandir(argv[i], &names, NULL, replay_cmp);
        if (n < 0) {
            perror(argv[i]);
            return 1;
        }
        for (int k = 0; k < n; k++) {
            if (names[k]->d_name[0] != '.') {
                char path[4096];
                snprintf(path, sizeof(path), "%s/%s", argv[i],
                         names[k]->d_name);
                if (replay_file(path) < 0)
                    return 1;
                done++;
            }
            free(names[k]);
        }
        free(names);
    }
    if (done == 0) {
        fprintf(stderr, "%s: no input replayed\n", argv[0]);
        return 1;
    }
    printf("%s: %zu inputs replayed\n", argv[0], done);
    return 0;
}
