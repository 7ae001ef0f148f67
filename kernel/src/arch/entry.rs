//! PVH entry (docs/misc/pvh.pandoc): the Xen ELF note, early identity page
//! tables, the switch to long mode and the jump into Rust.
//!
//! Xen enters at `skiff_pvh_start` in 32-bit protected mode with paging off,
//! interrupts off and `ebx` holding the physical address of `hvm_start_info`.

core::arch::global_asm!(
    r#"
    .section .note.Xen, "a"
    .balign 4
    .long 4                      /* namesz */
    .long 4                      /* descsz */
    .long {phys32_entry}         /* XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .long skiff_pvh_start

    /* Early identity map of the first 4 GiB with 2 MiB pages. Rust replaces
     * it with the final tables (arch::paging) right after entry. */
    .section .data.boot_pagetables, "aw"
    .balign 4096
boot_pml4:
    .quad boot_pdpt + 0x3
    .fill 511, 8, 0
boot_pdpt:
    .quad boot_pd + 0x3
    .quad boot_pd + 0x1003
    .quad boot_pd + 0x2003
    .quad boot_pd + 0x3003
    .fill 508, 8, 0
boot_pd:
    .set i, 0
    .rept 2048
    .quad (i << 21) + 0x83
    .set i, i + 1
    .endr

    .balign 8
boot_gdt:
    .quad 0
    .quad 0x00af9a000000ffff     /* 0x08: 64-bit code */
    .quad 0x00cf92000000ffff     /* 0x10: data */
boot_gdt_end:
boot_gdt_ptr:
    .word boot_gdt_end - boot_gdt - 1
    .long boot_gdt

    .section .text.boot, "ax"
    .code32
    .global skiff_pvh_start
skiff_pvh_start:
    cli
    cld
    /* TSC at entry, for the boot-time measurement. */
    rdtsc
    mov %eax, skiff_entry_tsc
    mov %edx, skiff_entry_tsc + 4
    mov %ebx, %edi               /* hvm_start_info, first Rust argument */
    mov $boot_pml4, %eax
    mov %eax, %cr3
    mov %cr4, %eax
    or $0x20, %eax               /* PAE */
    mov %eax, %cr4
    mov $0xC0000080, %ecx        /* EFER */
    rdmsr
    or $0x900, %eax              /* LME | NXE */
    wrmsr
    mov %cr0, %eax
    or $0x80010001, %eax         /* PG | WP | PE */
    mov %eax, %cr0
    lgdt boot_gdt_ptr
    ljmp $0x08, $1f

    .code64
1:
    mov $0x10, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    xor %eax, %eax
    mov %eax, %fs
    mov %eax, %gs
    lea __stack_top(%rip), %rsp
    xor %ebp, %ebp
    mov %edi, %edi               /* zero-extend the start info address */
    /* Zero .bss. The ELF loader should have, but what the toolstack
     * writes into guest memory after loading must not reach Rust statics;
     * count the non-zero words found, for the boot log. */
    lea __bss_start(%rip), %rsi
    lea __bss_end(%rip), %rcx
    xor %edx, %edx
3:  cmp %rcx, %rsi
    jae 4f
    cmpq $0, (%rsi)
    je 5f
    test %rdx, %rdx
    jnz 6f
    mov %rsi, skiff_bss_dirty_first(%rip)
6:  inc %rdx
    movq $0, (%rsi)
5:  add $8, %rsi
    jmp 3b
4:  mov %rdx, skiff_bss_dirty_words(%rip)
    call skiff_rust_start
2:  hlt
    jmp 2b

    .section .data
    .balign 8
    .global skiff_entry_tsc
skiff_entry_tsc:
    .quad 0
    .global skiff_bss_dirty_first
skiff_bss_dirty_first:
    .quad 0
    .global skiff_bss_dirty_words
skiff_bss_dirty_words:
    .quad 0
    .text
    "#,
    phys32_entry = const skiff_xen::elfnote::PHYS32_ENTRY,
    options(att_syntax)
);

unsafe extern "C" {
    /// TSC value read by the first instruction of the PVH entry.
    static skiff_entry_tsc: u64;
    static skiff_bss_dirty_first: u64;
    static skiff_bss_dirty_words: u64;
}

/// Non-zero 8-byte words the entry code found (and cleared) in `.bss`,
/// and the address of the first: `(words, first)`.
pub fn bss_dirty() -> (u64, u64) {
    // SAFETY: written once by the entry code before any Rust runs; plain reads.
    unsafe {
        (
            core::ptr::addr_of!(skiff_bss_dirty_words).read_volatile(),
            core::ptr::addr_of!(skiff_bss_dirty_first).read_volatile(),
        )
    }
}

/// The TSC value at PVH entry.
pub fn entry_tsc() -> u64 {
    // SAFETY: written once by the entry code before any Rust runs; plain read.
    unsafe { core::ptr::addr_of!(skiff_entry_tsc).read_volatile() }
}
