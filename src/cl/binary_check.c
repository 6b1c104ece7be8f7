/*
 * What segcl can check of a driver's program binary before handing it back to the driver:
 * the layouts it knows (ELF, PoCL's "poclbin", rusticl's, SPIR-V) walked far enough that every
 * size they declare lies inside the bytes at hand. A kernel-cache entry cut short and re-hashed
 * passes the cache's digest; it must not reach a driver that trusts the sizes inside.
 */
#include <stdio.h>
#include <string.h>

#define SEGCL_CL_IMPL /* a file of src/cl */
#include "cl/context_impl.h"

static uint64_t read_le(const unsigned char *p, int bytes)
{
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint64_t read_be(const unsigned char *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v = v << 8 | p[i];
    return v;
}

static bool refuse(char *why, size_t cap, const char *text)
{
    if (why && cap)
        snprintf(why, cap, "%s", text);
    return false;
}

/* `count` entries of `size` bytes at `offset` lie inside n bytes. */
static bool table_fits(uint64_t offset, uint64_t count, uint64_t size, uint64_t n)
{
    return offset <= n && (size == 0 || count <= (n - offset) / size);
}

/* ELF: the header, the program and section header tables, and every section with contents. */
static bool check_elf(const unsigned char *b, size_t n, char *why, size_t cap)
{
    if (n < 52 || (b[4] != 1 && b[4] != 2) || (b[5] != 1 && b[5] != 2))
        return refuse(why, cap, "ELF header cut short or of an unknown class");
    const bool wide = b[4] == 2;
    uint64_t (*rd)(const unsigned char *, int) = b[5] == 1 ? read_le : read_be;
    const int addr = wide ? 8 : 4;
    if (wide && n < 64)
        return refuse(why, cap, "ELF header cut short");
    const unsigned char *h = b + 24 + addr; /* past e_entry */
    uint64_t phoff = rd(h, addr), shoff = rd(h + addr, addr);
    h += 2 * addr + 4; /* e_flags */
    uint64_t phentsize = rd(h + 2, 2), phnum = rd(h + 4, 2);
    uint64_t shentsize = rd(h + 6, 2), shnum = rd(h + 8, 2);
    if ((phnum && !table_fits(phoff, phnum, phentsize, n)) ||
        (shnum && !table_fits(shoff, shnum, shentsize, n)))
        return refuse(why, cap, "an ELF header table lies past the end of the binary");
    if (shnum && shentsize < (uint64_t)(wide ? 64 : 40))
        return refuse(why, cap, "ELF section headers of an impossible size");
    for (uint64_t i = 0; i < shnum; i++) {
        const unsigned char *s = b + shoff + i * shentsize;
        uint64_t type = rd(s + 4, 4);
        const unsigned char *o = s + (wide ? 24 : 16); /* sh_offset, then sh_size */
        uint64_t offset = rd(o, addr), size = rd(o + addr, addr);
        if (type != 8 /* SHT_NOBITS */ && type != 0 && (offset > n || size > n - offset))
            return refuse(why, cap, "an ELF section lies past the end of the binary");
    }
    return true;
}

/* PoCL's own format (lib/CL/pocl_binary.c, versions 9 to 12): a header, the program's files
 * ("root entries", each a 64-bit length and its bytes), then one record per kernel whose first
 * field is the record's length; the records end where the binary does. */
static bool check_pocl(const unsigned char *b, size_t n, char *why, size_t cap)
{
    const size_t header = 8 + 8 + 4 + 4 + 8 + 4 + 41;
    if (n < header)
        return refuse(why, cap, "PoCL binary header cut short");
    uint64_t version = read_le(b + 16, 4), kernels = read_le(b + 20, 4);
    uint64_t flags = read_le(b + 24, 8), roots = read_le(b + 32, 4);
    if (version < 9 || version > 12)
        return true; /* a layout segcl does not know: the crash marker guards it */
    uint64_t at = header + (version >= 10 && (flags & 2) ? 8 : 0);
    for (uint64_t i = 0; i < roots; i++) {
        if (at > n || n - at < 8 || read_le(b + at, 8) > n - at - 8)
            return refuse(why, cap, "a PoCL program file lies past the end of the binary");
        at += 8 + read_le(b + at, 8);
    }
    for (uint64_t i = 0; i < kernels; i++) {
        if (at > n || n - at < 20)
            return refuse(why, cap, "a PoCL kernel record lies past the end of the binary");
        uint64_t size = read_le(b + at, 8), files = read_le(b + at + 8, 8);
        if (size < 20 || size > n - at || files > size - 20)
            return refuse(why, cap, "a PoCL kernel record lies past the end of the binary");
        at += size;
    }
    if (at != n)
        return refuse(why, cap, "a PoCL binary whose records do not end where it does");
    return true;
}

static bool spirv_magic(const unsigned char *p)
{
    return read_le(p, 4) == 0x07230203u;
}

/* rusticl: "rusticl\0", version 1, device name length, SPIR-V length, binary type, the name,
 * the SPIR-V; before Mesa 23 a bare version 1, SPIR-V length and type, then the SPIR-V. */
static bool check_rusticl(const unsigned char *b, size_t n, bool named, char *why, size_t cap)
{
    size_t header = named ? 24 : 12;
    if (n < header)
        return refuse(why, cap, "rusticl binary header cut short");
    uint64_t name = named ? read_le(b + 12, 4) : 0;
    uint64_t spirv = read_le(b + (named ? 16 : 4), 4);
    if (name + spirv != n - header || spirv < 20 || !spirv_magic(b + header + name))
        return refuse(why, cap, "a rusticl binary whose SPIR-V length is not its own");
    return true;
}

bool segcl_binary_check(const unsigned char *b, size_t n, char *why, size_t cap)
{
    if (why && cap)
        why[0] = '\0';
    if (n >= 4 && memcmp(b, "\x7f" "ELF", 4) == 0)
        return check_elf(b, n, why, cap);
    if (n >= 8 && memcmp(b, "poclbin", 8) == 0)
        return check_pocl(b, n, why, cap);
    if (n >= 8 && memcmp(b, "rusticl", 8) == 0)
        return check_rusticl(b, n, true, why, cap);
    if (n >= 16 && read_le(b, 4) == 1 && spirv_magic(b + 12))
        return check_rusticl(b, n, false, why, cap);
    if (n >= 4 && spirv_magic(b) && (n < 20 || n % 4))
        return refuse(why, cap, "SPIR-V cut short");
    /* anything else (NVIDIA's PTX text, formats segcl does not know) goes to the driver as it
     * is; the crash marker keeps one that kills the process from being handed over again */
    return true;
}
