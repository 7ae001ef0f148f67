/* A loader test input: built by build.sh with the host's C compiler as an ordinary dynamically
 * linked executable (it names an ELF interpreter, PT_INTERP), which Skiff must refuse to run. */
#include <stdio.h>

int main(void) {
    puts("dynamic-hello: a dynamically linked program ran");
    return 0;
}
