"""Corruptions of a linked ELF64 executable for tests/integration/test_hostile.py.

Each function takes the file's bytes and returns them with one kind of lie told: in the section
headers (which nothing needs to run a program: the kernel and ld.so read only the program headers)
or inside the sections a profiler reads (.symtab, .eh_frame, .eh_frame_hdr, DWARF). The program
still runs; every lie is aimed at the agent that maps, symbolizes and unwinds it.
Layouts: the ELF-64 object file format (e_shoff at 0x28, e_shnum at 0x3C, 64-byte section
headers; 24-byte Elf64_Sym) and the LSB .eh_frame / .eh_frame_hdr formats.
"""
import hashlib
import random
import struct

EHDR_SHOFF, EHDR_SHNUM, EHDR_SHSTRNDX = 0x28, 0x3C, 0x3E
SHDR_SIZE = 64
SH_NAME, SH_TYPE, SH_OFFSET, SH_SIZE, SH_LINK, SH_ENTSIZE = 0, 4, 24, 32, 40, 56
SYM_SIZE = 24
SYM_NAME, SYM_VALUE, SYM_ST_SIZE = 0, 8, 16
HUGE = 1 << 62


class Elf:
    def __init__(self, data):
        self.data = bytearray(data)
        assert self.data[:4] == b"\x7fELF" and self.data[4] == 2, "64-bit ELF only"
        self.shoff = self.u64(EHDR_SHOFF)
        self.shnum = self.u16(EHDR_SHNUM)
        shstrndx = self.u16(EHDR_SHSTRNDX)
        names_at = self.u64(self.header(shstrndx) + SH_OFFSET)
        self.names = {}
        for index in range(self.shnum):
            start = names_at + self.u32(self.header(index) + SH_NAME)
            self.names[self.data[start:self.data.index(0, start)].decode()] = index

    def u16(self, at):
        return struct.unpack_from("<H", self.data, at)[0]

    def u32(self, at):
        return struct.unpack_from("<I", self.data, at)[0]

    def u64(self, at):
        return struct.unpack_from("<Q", self.data, at)[0]

    def put(self, fmt, at, value):
        struct.pack_into(fmt, self.data, at, value)

    def header(self, index):
        return self.shoff + index * SHDR_SIZE

    def section(self, name):
        """(file offset, size) of a section."""
        header = self.header(self.names[name])
        return self.u64(header + SH_OFFSET), self.u64(header + SH_SIZE)

    def scramble(self, name, rng):
        offset, size = self.section(name)
        self.data[offset:offset + size] = rng.randbytes(size)


# --- section headers that lie (the scenario "ELF headers lie") ---

def shoff_past_end(elf, rng):
    elf.put("<Q", EHDR_SHOFF, len(elf.data) + 0x10000)


def shnum_past_end(elf, rng):
    elf.put("<H", EHDR_SHNUM, 0xFEFF)


def shnum_extended_huge(elf, rng):
    # e_shnum 0 means "the count is section 0's sh_size" (extended numbering).
    elf.put("<H", EHDR_SHNUM, 0)
    elf.put("<Q", elf.header(0) + SH_SIZE, 1 << 32)


def offsets_past_end(elf, rng):
    for index in range(1, elf.shnum):
        elf.put("<Q", elf.header(index) + SH_OFFSET, len(elf.data) * 4 + index)


def sizes_huge(elf, rng):
    for index in range(1, elf.shnum):
        elf.put("<Q", elf.header(index) + SH_SIZE, HUGE + index)


def sections_overlap(elf, rng):
    # Every section starts at the program headers and spans the whole file.
    for index in range(1, elf.shnum):
        elf.put("<Q", elf.header(index) + SH_OFFSET, 0x40)
        elf.put("<Q", elf.header(index) + SH_SIZE, len(elf.data) - 0x40)


def shstrndx_and_names_bad(elf, rng):
    elf.put("<H", EHDR_SHSTRNDX, 0xFFF0)
    for index in range(1, elf.shnum):
        elf.put("<I", elf.header(index) + SH_NAME, 0xFFFFFF00 + index)


def symtab_entsize_zero_size_huge(elf, rng):
    header = elf.header(elf.names[".symtab"])
    elf.put("<Q", header + SH_SIZE, 1 << 40)
    elf.put("<Q", header + SH_ENTSIZE, 0)
    elf.put("<I", header + SH_LINK, elf.names[".symtab"])  # its string table is itself


def symbols_huge(elf, rng):
    # Every symbol claims 2^62 bytes; every other one names a string far past .strtab's end.
    offset, size = elf.section(".symtab")
    for at in range(offset + SYM_SIZE, offset + size, SYM_SIZE):
        elf.put("<Q", at + SYM_ST_SIZE, HUGE)
        if (at // SYM_SIZE) % 2:
            elf.put("<I", at + SYM_NAME, 0xFFFFFFF0)


def strtab_unterminated(elf, rng):
    offset, size = elf.section(".strtab")
    elf.data[offset:offset + size] = b"A" * size


# --- CFI and DWARF that lie (section headers intact) ---

def eh_frame_random(elf, rng):
    elf.scramble(".eh_frame", rng)


def eh_frame_length_huge(elf, rng):
    # The first record says it is 64-bit and 2^63 bytes long.
    offset, _ = elf.section(".eh_frame")
    elf.put("<I", offset, 0xFFFFFFFF)
    elf.put("<Q", offset + 4, 1 << 63)


def eh_frame_instructions_random(elf, rng):
    # Record lengths, CIEs and each FDE's pc range stay valid; the call-frame instructions are
    # junk, so the rows are built for real addresses from nonsense rules.
    offset, size = elf.section(".eh_frame")
    at = offset
    while at + 8 <= offset + size:
        length = elf.u32(at)
        if length == 0 or length == 0xFFFFFFFF:
            break
        if elf.u32(at + 4) != 0 and length > 13:  # an FDE: pc_begin and pc_range (pcrel sdata4
            elf.data[at + 16] = 0  # each) kept, no augmentation data, then the instructions
            end = at + 4 + length
            elf.data[at + 17:end] = rng.randbytes(end - at - 17)
        at += 4 + length


def eh_frame_hdr_lies(elf, rng):
    # version 1, then encodings; fde_count claims 2^31 entries and the table points anywhere.
    offset, size = elf.section(".eh_frame_hdr")
    elf.put("<I", offset + 8, 0x7FFFFFFF)
    for at in range(offset + 12, offset + size - 3, 4):
        elf.put("<i", at, rng.randrange(-(1 << 31), 1 << 31))


def debug_info_random(elf, rng):
    elf.scramble(".debug_info", rng)


def debug_line_random(elf, rng):
    elf.scramble(".debug_line", rng)


def debug_abbrev_random(elf, rng):
    elf.scramble(".debug_abbrev", rng)


def debug_unit_lengths_huge(elf, rng):
    for name in (".debug_info", ".debug_line"):
        offset, _ = elf.section(name)
        elf.put("<I", offset, 0xFFFFFFF0)


SECTION_HEADER_LIES = (shoff_past_end, shnum_past_end, shnum_extended_huge, offsets_past_end, sizes_huge,
                       sections_overlap, shstrndx_and_names_bad, symtab_entsize_zero_size_huge, symbols_huge,
                       strtab_unterminated)
CFI_AND_DWARF_LIES = (eh_frame_random, eh_frame_length_huge, eh_frame_instructions_random, eh_frame_hdr_lies,
                      debug_info_random, debug_line_random, debug_abbrev_random, debug_unit_lengths_huge)


# An NT_GNU_BUILD_ID note with a 20-byte (SHA-1) id: namesz 4, descsz 20, type 3, "GNU\0".
BUILD_ID_NOTE = struct.pack("<III", 4, 20, 3) + b"GNU\0"


def corrupt(data, lie, seed=15):
    """The file with `lie` told, and a build id of its own: profkit shares symbol tables between
    files with the same build id, so copies of one binary would all get the first copy's table."""
    elf = Elf(data)
    at = elf.data.find(BUILD_ID_NOTE)
    assert at >= 0, "no 20-byte GNU build id note"
    start = at + len(BUILD_ID_NOTE)
    elf.data[start:start + 20] = hashlib.sha1(lie.__name__.encode()).digest()
    lie(elf, random.Random(seed))
    return bytes(elf.data)
