//! Hand-made ELF64 images for the hostile-image tests: as many program headers and symbols as a
//! test asks for, pointing wherever it likes, so that a small file can describe far more than
//! it holds. Only what hv-host and the `object` crate read is filled in.

/// The code of every generated image: `movl $1, 0x40000000` (a page fault writing outside
/// guest RAM, so the host reports it with the symbol around it), then `hlt`.
pub const FAULT_CODE: [u8; 12] = [0xC7, 0x04, 0x25, 0, 0, 0, 0x40, 1, 0, 0, 0, 0xF4];

/// Where generated images are loaded and entered.
pub const BASE: u64 = 0x1000;

/// A `PT_LOAD` header: `filesz` bytes of the image's data, from `offset` in it, loaded at
/// `addr`.
#[derive(Clone, Copy, Debug)]
pub struct Load {
    /// Guest address (virtual and physical).
    pub addr: u64,
    /// Offset in [`Elf::data`].
    pub offset: u64,
    /// Bytes from the file.
    pub filesz: u64,
    /// Bytes in memory.
    pub memsz: u64,
}

/// A function symbol: its name is at `name` in [`Elf::strtab`].
#[derive(Clone, Copy, Debug)]
pub struct Sym {
    /// Offset of its NUL-terminated name in the string table.
    pub name: u32,
    /// Its address.
    pub addr: u64,
    /// Its size.
    pub size: u64,
}

/// An ELF64 executable for x86-64, entered at [`BASE`].
#[derive(Clone, Debug, Default)]
pub struct Elf {
    /// Program headers.
    pub loads: Vec<Load>,
    /// The bytes the segments load from (the `.text` section).
    pub data: Vec<u8>,
    /// Function symbols, all in `.text`.
    pub symbols: Vec<Sym>,
    /// The symbols' string table (it should start with a NUL).
    pub strtab: Vec<u8>,
}

impl Elf {
    /// One read-execute segment at [`BASE`] holding `data`, no symbols.
    pub fn with_code(data: Vec<u8>) -> Elf {
        let len = data.len() as u64;
        Elf {
            loads: vec![Load { addr: BASE, offset: 0, filesz: len, memsz: len }],
            data,
            symbols: Vec::new(),
            strtab: vec![0],
        }
    }

    /// The file: ELF header, program headers, data, symbol table, string table, section names,
    /// section headers (null, `.text`, `.symtab`, `.strtab`, `.shstrtab`).
    pub fn bytes(&self) -> Vec<u8> {
        let phoff = 64u64;
        let data_at = phoff + 56 * self.loads.len() as u64;
        // The tables the `object` crate reads as slices must be aligned.
        let symtab_at = (data_at + self.data.len() as u64).next_multiple_of(8);
        let symtab_len = 24 * (self.symbols.len() as u64 + 1);
        let strtab_at = symtab_at + symtab_len;
        let names: &[u8] = b"\0.text\0.symtab\0.strtab\0.shstrtab\0";
        let names_at = strtab_at + self.strtab.len() as u64;
        let shoff = (names_at + names.len() as u64).next_multiple_of(8);
        let mut f = Vec::with_capacity(shoff as usize + 5 * 64);
        // ELF header.
        f.extend_from_slice(b"\x7fELF");
        f.extend_from_slice(&[2, 1, 1, 0]); // 64-bit, little-endian, version 1, SysV
        f.extend_from_slice(&[0; 8]);
        f.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
        f.extend_from_slice(&62u16.to_le_bytes()); // EM_X86_64
        f.extend_from_slice(&1u32.to_le_bytes());
        f.extend_from_slice(&BASE.to_le_bytes()); // e_entry
        f.extend_from_slice(&phoff.to_le_bytes());
        f.extend_from_slice(&shoff.to_le_bytes());
        f.extend_from_slice(&0u32.to_le_bytes()); // e_flags
        f.extend_from_slice(&64u16.to_le_bytes()); // e_ehsize
        f.extend_from_slice(&56u16.to_le_bytes()); // e_phentsize
        f.extend_from_slice(&u16::try_from(self.loads.len()).unwrap_or(u16::MAX).to_le_bytes());
        f.extend_from_slice(&64u16.to_le_bytes()); // e_shentsize
        f.extend_from_slice(&5u16.to_le_bytes()); // e_shnum
        f.extend_from_slice(&4u16.to_le_bytes()); // e_shstrndx
        for l in &self.loads {
            f.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
            f.extend_from_slice(&5u32.to_le_bytes()); // PF_R | PF_X
            f.extend_from_slice(&(data_at + l.offset).to_le_bytes());
            f.extend_from_slice(&l.addr.to_le_bytes());
            f.extend_from_slice(&l.addr.to_le_bytes());
            f.extend_from_slice(&l.filesz.to_le_bytes());
            f.extend_from_slice(&l.memsz.to_le_bytes());
            f.extend_from_slice(&0x1000u64.to_le_bytes());
        }
        f.extend_from_slice(&self.data);
        f.resize(symtab_at as usize, 0);
        f.extend_from_slice(&[0; 24]); // symbol 0
        for s in &self.symbols {
            f.extend_from_slice(&s.name.to_le_bytes());
            f.push(0x12); // STB_GLOBAL, STT_FUNC
            f.push(0);
            f.extend_from_slice(&1u16.to_le_bytes()); // in .text
            f.extend_from_slice(&s.addr.to_le_bytes());
            f.extend_from_slice(&s.size.to_le_bytes());
        }
        f.extend_from_slice(&self.strtab);
        f.extend_from_slice(names);
        f.resize(shoff as usize, 0);
        // (name offset in `names`, type, flags, address, offset, size, link, info, entry size)
        type Section = (u32, u32, u64, u64, u64, u64, u32, u32, u64);
        let section =
            |f: &mut Vec<u8>, (name, kind, flags, addr, at, len, link, info, entsize): Section| {
                f.extend_from_slice(&name.to_le_bytes());
                f.extend_from_slice(&kind.to_le_bytes());
                f.extend_from_slice(&flags.to_le_bytes());
                f.extend_from_slice(&addr.to_le_bytes());
                f.extend_from_slice(&at.to_le_bytes());
                f.extend_from_slice(&len.to_le_bytes());
                f.extend_from_slice(&link.to_le_bytes());
                f.extend_from_slice(&info.to_le_bytes());
                f.extend_from_slice(&8u64.to_le_bytes()); // sh_addralign
                f.extend_from_slice(&entsize.to_le_bytes());
            };
        f.extend_from_slice(&[0; 64]);
        let text_len = self.data.len() as u64;
        let strtab_len = self.strtab.len() as u64;
        section(&mut f, (1, 1, 6, BASE, data_at, text_len, 0, 0, 0)); // .text: PROGBITS, AX
        section(&mut f, (7, 2, 0, 0, symtab_at, symtab_len, 3, 1, 24)); // .symtab, names in 3
        section(&mut f, (15, 3, 0, 0, strtab_at, strtab_len, 0, 0, 0)); // .strtab
        section(&mut f, (23, 3, 0, 0, names_at, names.len() as u64, 0, 0, 0)); // .shstrtab
        f
    }
}
