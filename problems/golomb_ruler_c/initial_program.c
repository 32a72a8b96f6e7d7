/* Print a Golomb ruler with 12 marks: integers whose pairwise differences are all
 * distinct. The score is its length (largest mark - smallest), to be minimized; the
 * optimum for 12 marks is 85. Only golomb_ruler() evolves; main() prints the marks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MARKS 12

// EVOLVE-BLOCK-START
/* Fill marks[0..n-1] with a Golomb ruler. Greedy: start at 0 and add, each time, the
 * smallest next mark whose differences with all earlier marks are new. */
static void golomb_ruler(int n, int *marks) {
    static char used[1 << 16]; /* used[d]: some two marks already differ by d */
    memset(used, 0, sizeof used);
    marks[0] = 0;
    for (int k = 1; k < n; k++) {
        for (int c = marks[k - 1] + 1;; c++) {
            int ok = 1;
            for (int i = 0; i < k && ok; i++) ok = !used[c - marks[i]];
            if (!ok) continue;
            for (int i = 0; i < k; i++) used[c - marks[i]] = 1;
            marks[k] = c;
            break;
        }
    }
}
// EVOLVE-BLOCK-END

int main(void) {
    int marks[MARKS];
    golomb_ruler(MARKS, marks);
    for (int i = 0; i < MARKS; i++) printf(i ? " %d" : "%d", marks[i]);
    printf("\n");
    return 0;
}
