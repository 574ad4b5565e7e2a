//! An image's function symbols, to name code addresses in reports: bounded in number and in the
//! bytes of their names (see the parent module), demangled and escaped once, when the image is
//! read.

use object::read::elf::ElfFile64;
use object::{LittleEndian, Object, ObjectSymbol, SymbolKind};

use super::ImageError;

/// Most function symbols the host keeps of an image (a guest of at most 8 MiB that has more
/// functions than this is not one the project knows of; hv's own examples have a few hundred).
pub const MAX_SYMBOLS: usize = 16 * 1024;

/// Most bytes of function names (demangled, escaped) the host keeps of an image, all together.
pub const MAX_SYMBOL_BYTES: usize = 1 << 20;

/// A function symbol: where it starts, how long it is (0 if unknown), its demangled name.
#[derive(Debug)]
struct Symbol {
    addr: u64,
    size: u64,
    name: String,
}

/// An image's function symbols, sorted by address, to name code addresses in reports.
#[derive(Debug, Default)]
pub(crate) struct Symbols(Vec<Symbol>);

impl Symbols {
    /// The function symbols of an ELF file's symbol table (none if stripped), their names
    /// demangled and escaped (see `escape`); an image past [`MAX_SYMBOLS`] or
    /// [`MAX_SYMBOL_BYTES`] is refused.
    pub(super) fn of(file: &ElfFile64<'_, LittleEndian>) -> Result<Symbols, ImageError> {
        let mut symbols: Vec<Symbol> = Vec::new();
        let mut budget = Budget { left: MAX_SYMBOL_BYTES, text: String::new() };
        let functions =
            file.symbols().filter(|s| s.kind() == SymbolKind::Text && s.is_definition());
        for s in functions {
            let Some(name) = s.name().ok().filter(|n| !n.is_empty()) else { continue };
            if symbols.len() == MAX_SYMBOLS {
                return Err(ImageError::TooManySymbols { max: MAX_SYMBOLS });
            }
            // The mangled name is checked first: demangling reads all of it.
            let too_large = ImageError::SymbolNamesTooLarge { max: MAX_SYMBOL_BYTES };
            if name.len() > budget.left {
                return Err(too_large);
            }
            budget.text.clear();
            let demangled = rustc_demangle::demangle(name);
            let written = std::fmt::Write::write_fmt(&mut budget, format_args!("{demangled:#}"));
            if written.is_err() {
                return Err(too_large);
            }
            let name = crate::escape::escape(&budget.text);
            budget.left = budget.left.checked_sub(name.len()).ok_or(too_large)?;
            symbols.push(Symbol { addr: s.address(), size: s.size(), name });
        }
        symbols.sort_by_key(|s| s.addr);
        symbols.shrink_to_fit();
        Ok(Symbols(symbols))
    }

    /// Names `addr` as `function+0xoffset`, if it lies in a known function. A symbol without a
    /// size covers up to the next one.
    pub(crate) fn describe(&self, addr: u64) -> Option<String> {
        let i = self.0.partition_point(|s| s.addr <= addr).checked_sub(1)?;
        let s = &self.0[i];
        let end = if s.size > 0 {
            s.addr + s.size
        } else {
            self.0.get(i + 1).map_or(u64::MAX, |next| next.addr)
        };
        (addr < end).then(|| format!("{}+{:#x}", s.name, addr - s.addr))
    }
}

/// A name being demangled, written only while the image's name budget lasts: a mangled name
/// can expand a lot (Rust's v0 back-references), so the output is bounded as it is made.
struct Budget {
    left: usize,
    text: String,
}

impl std::fmt::Write for Budget {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if self.text.len() + s.len() > self.left {
            return Err(std::fmt::Error);
        }
        self.text.push_str(s);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn symbols(list: &[(u64, u64, &str)]) -> Symbols {
        Symbols(list.iter().map(|&(addr, size, n)| Symbol { addr, size, name: n.into() }).collect())
    }

    #[test]
    fn describes_addresses_inside_functions_only() {
        let s = symbols(&[(0x40, 0x10, "crash_here"), (0x60, 0, "tail"), (0x100, 4, "last")]);
        assert_eq!(s.describe(0x46).as_deref(), Some("crash_here+0x6"));
        assert_eq!(s.describe(0x40).as_deref(), Some("crash_here+0x0"));
        assert_eq!(s.describe(0x50), None, "past crash_here's size, before tail");
        assert_eq!(s.describe(0x3f), None);
        assert_eq!(s.describe(0x90).as_deref(), Some("tail+0x30"), "sizeless: up to the next");
        assert_eq!(s.describe(0x104), None);
        assert_eq!(Symbols::default().describe(0), None);
    }
}
