#!/bin/bash
# Checks every image in target/images (or the ELF files given) is bootable as a PVH guest: an ELF64
# x86-64 executable with a PT_NOTE segment holding Xen's PHYS32_ENTRY note (type 18, 4 bytes) whose
# address is the kernel's PVH entry symbol, inside a loadable executable segment.
set -u
cd "$(dirname "$0")/.."
images=("$@")
[ ${#images[@]} -gt 0 ] || images=(target/images/*.elf)
[ -e "${images[0]}" ] || { echo "images: no images (run make images)" >&2; exit 1; }
failed=0

# in_exec_load SEGMENTS ADDR: ADDR lies in a LOAD segment with the E flag (SEGMENTS: readelf -lW's output).
in_exec_load() {
    local type off vaddr paddr filesz memsz flags  # flags: "R E 0x1000" (flags, then alignment)
    while read -r type off vaddr paddr filesz memsz flags; do
        [ "$type" = LOAD ] && [[ $flags == *E* ]] || continue
        if [ "$2" -ge $((vaddr)) ] && [ "$2" -lt $((vaddr + memsz)) ]; then return 0; fi
    done <<<"$1"
    return 1
}
for img in "${images[@]}"; do
    why=""
    header=$(readelf -hW "$img" 2>&1)
    segments=$(readelf -lW "$img" 2>&1)
    if ! grep -q 'Class:.*ELF64' <<<"$header" || ! grep -q 'Machine:.*X86-64' <<<"$header" \
        || ! grep -q 'Type:.*EXEC' <<<"$header"; then
        why="not an ELF64 x86-64 executable"
    elif ! grep -qE '^ +NOTE ' <<<"$segments"; then
        why="no PT_NOTE segment (Xen reads the note from one)"
    else
        # "Xen  0x00000004  Unknown note type: (0x00000012)  description data: 00 00 10 00"
        note=$(readelf -nW "$img" | awk '$1 == "Xen" && /\(0x00000012\)/ { sub(/.*description data: /, ""); print; exit }')
        entry=$(nm "$img" | awk '$3 == "skiff_pvh_start" { print $1 }')
        if [ -z "$note" ]; then
            why="no Xen PHYS32_ENTRY note (type 0x12)"
        elif [ -z "$entry" ]; then
            why="no skiff_pvh_start symbol"
        else
            read -r b0 b1 b2 b3 rest <<<"$note"
            if [ -n "$rest" ] || [ -z "$b3" ]; then
                why="PHYS32_ENTRY note is not 4 bytes: $note"
            else
                addr=$((16#$b3$b2$b1$b0))
                if [ "$addr" -ne $((16#$entry)) ]; then
                    why=$(printf 'PHYS32_ENTRY is %#x, skiff_pvh_start is %#x' "$addr" $((16#$entry)))
                elif ! in_exec_load "$segments" "$addr"; then
                    why=$(printf 'PHYS32_ENTRY %#x is not in an executable LOAD segment' "$addr")
                fi
            fi
        fi
    fi
    if [ -n "$why" ]; then
        echo "images: FAIL $img: $why"
        failed=1
    else
        printf 'images: ok %s: PHYS32_ENTRY %#x = skiff_pvh_start\n' "$img" "$addr"
    fi
done
exit "$failed"
