//! The `RUNPATH`/`RPATH` of an ELF executable — the directories its own libraries come from
//! before the loader's configuration (ld.so(8)); Nix builds every binary with the store
//! directories of its libraries there, so on NixOS this, not ld.so.conf, finds XRT — and its
//! `DT_NEEDED` libraries (which runtime a FastFlowLM build links: XRT or HRX). Only
//! 64-bit little-endian ELF (x86_64) is read: the ELF header, the program headers, the
//! `PT_DYNAMIC` segment and the string it points into (`DT_STRTAB` mapped through the
//! `PT_LOAD` segments), never the whole file. Layout: the System V gABI
//! (<https://refspecs.linuxfoundation.org/elf/gabi4+/ch5.dynamic.html>).

use std::io::{Read, Seek, SeekFrom};

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;
const DT_STRTAB: u64 = 5;
const DT_RPATH: u64 = 15;
const DT_RUNPATH: u64 = 29;
/// Most program headers or dynamic entries read (real binaries have tens).
const MAX_ENTRIES: usize = 4096;
/// Longest run path read.
const MAX_STRING: usize = 64 * 1024;
/// Longest library name read.
const MAX_NAME: usize = 4096;

fn u16_at(b: &[u8], o: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(o..o + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], o: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(o..o + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], o: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(o..o + 8)?.try_into().ok()?))
}

fn read_at<R: Read + Seek>(r: &mut R, off: u64, len: usize) -> Option<Vec<u8>> {
    r.seek(SeekFrom::Start(off)).ok()?;
    let mut buf = Vec::new();
    r.take(len as u64).read_to_end(&mut buf).ok()?;
    (buf.len() == len).then_some(buf)
}

/// What the dynamic section of an executable says about its libraries.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dynamic {
    /// The entries of `DT_RUNPATH` (else `DT_RPATH`) as written (`$ORIGIN` unexpanded); None
    /// when it has neither.
    pub runpath: Option<Vec<String>>,
    /// The `DT_NEEDED` library names, in order.
    pub needed: Vec<String>,
}

/// The run path and needed libraries of a 64-bit little-endian ELF; None for anything else
/// (a script, a static binary, a truncated file).
pub fn elf_dynamic<R: Read + Seek>(r: &mut R) -> Option<Dynamic> {
    let h = read_at(r, 0, 64)?;
    if h.get(0..4)? != b"\x7fELF" || h[4] != 2 || h[5] != 1 {
        return None;
    }
    let (phoff, phentsize, phnum) = (u64_at(&h, 0x20)?, u16_at(&h, 0x36)? as usize, u16_at(&h, 0x38)? as usize);
    if phentsize < 56 || phnum > MAX_ENTRIES {
        return None;
    }
    let ph = read_at(r, phoff, phentsize * phnum)?;
    let mut loads = Vec::new();
    let mut dynamic = None;
    for i in 0..phnum {
        let p = &ph[i * phentsize..];
        let (ty, off, vaddr, filesz) = (u32_at(p, 0)?, u64_at(p, 8)?, u64_at(p, 16)?, u64_at(p, 32)?);
        match ty {
            PT_LOAD => loads.push((vaddr, off, filesz)),
            PT_DYNAMIC => dynamic = Some((off, filesz)),
            _ => {}
        }
    }
    let (doff, dsize) = dynamic?;
    let n = (dsize as usize / 16).min(MAX_ENTRIES);
    let d = read_at(r, doff, n * 16)?;
    let (mut strtab, mut runpath, mut rpath, mut needed) = (None, None, None, Vec::new());
    for i in 0..n {
        let (tag, val) = (u64_at(&d, i * 16)?, u64_at(&d, i * 16 + 8)?);
        match tag {
            DT_NULL => break,
            DT_STRTAB => strtab = Some(val),
            DT_RUNPATH => runpath = Some(val),
            DT_RPATH => rpath = Some(val),
            DT_NEEDED => needed.push(val),
            _ => {}
        }
    }
    let strtab = strtab?;
    // DT_STRTAB is an address: the file offset is where a PT_LOAD segment maps it.
    let file_off = loads.iter().find(|(v, _, sz)| strtab >= *v && strtab < v + sz).map(|(v, o, _)| strtab - v + o)?;
    let mut string = |index: u64, max: usize| -> Option<String> {
        r.seek(SeekFrom::Start(file_off.checked_add(index)?)).ok()?;
        let mut buf = Vec::new();
        r.by_ref().take(max as u64).read_to_end(&mut buf).ok()?;
        let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
        String::from_utf8(buf[..end].to_vec()).ok()
    };
    let runpath = match runpath.or(rpath) {
        Some(i) => Some(string(i, MAX_STRING)?.split(':').filter(|p| !p.is_empty()).map(str::to_string).collect()),
        None => None,
    };
    let needed = needed.into_iter().filter_map(|i| string(i, MAX_NAME)).collect();
    Some(Dynamic { runpath, needed })
}

/// Expands `$ORIGIN`/`${ORIGIN}` (the binary's directory) in a run path entry.
pub fn expand_origin(entry: &str, origin: &str) -> String {
    entry.replace("${ORIGIN}", origin).replace("$ORIGIN", origin)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal ELF64 LE executable: one PT_LOAD mapping the file at 0x400000, a PT_DYNAMIC
    /// with DT_STRTAB and DT_RUNPATH (or DT_RPATH), and the string table.
    pub(crate) fn elf_with_runpath(path: &str, tag: u64) -> Vec<u8> {
        elf_with(&[(tag, path)])
    }

    /// The same with any string-valued dynamic entries (`DT_NEEDED`, `DT_RUNPATH`, …), in order.
    pub(crate) fn elf_with(entries: &[(u64, &str)]) -> Vec<u8> {
        let mut f = vec![0u8; 0x400];
        f[0..4].copy_from_slice(b"\x7fELF");
        f[4] = 2;
        f[5] = 1;
        f[0x20..0x28].copy_from_slice(&0x40u64.to_le_bytes());
        f[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        f[0x38..0x3a].copy_from_slice(&2u16.to_le_bytes());
        let ph = |f: &mut Vec<u8>, at: usize, ty: u32, off: u64, vaddr: u64, size: u64| {
            f[at..at + 4].copy_from_slice(&ty.to_le_bytes());
            f[at + 8..at + 16].copy_from_slice(&off.to_le_bytes());
            f[at + 16..at + 24].copy_from_slice(&vaddr.to_le_bytes());
            f[at + 32..at + 40].copy_from_slice(&size.to_le_bytes());
        };
        let n = entries.len() + 2;
        ph(&mut f, 0x40, PT_LOAD, 0, 0x400000, 0x1000);
        ph(&mut f, 0x78, PT_DYNAMIC, 0x100, 0x400100, (n * 16) as u64);
        let dynent = |f: &mut Vec<u8>, at: usize, tag: u64, val: u64| {
            f[at..at + 8].copy_from_slice(&tag.to_le_bytes());
            f[at + 8..at + 16].copy_from_slice(&val.to_le_bytes());
        };
        dynent(&mut f, 0x100, DT_STRTAB, 0x400200);
        let mut index = 1usize;
        for (i, (tag, s)) in entries.iter().enumerate() {
            dynent(&mut f, 0x110 + 16 * i, *tag, index as u64);
            f[0x200 + index..0x200 + index + s.len()].copy_from_slice(s.as_bytes());
            index += s.len() + 1;
        }
        dynent(&mut f, 0x110 + 16 * entries.len(), DT_NULL, 0);
        f
    }

    #[test]
    fn needed_libraries_with_and_without_a_run_path() {
        let e =
            elf_with(&[(DT_NEEDED, "libhrx.so.1"), (DT_NEEDED, "libc.so.6"), (DT_RUNPATH, "$ORIGIN/../lib64/flm/hrx")]);
        let d = elf_dynamic(&mut std::io::Cursor::new(e)).unwrap();
        assert_eq!(d.needed, ["libhrx.so.1", "libc.so.6"]);
        assert_eq!(d.runpath.unwrap(), ["$ORIGIN/../lib64/flm/hrx"]);
        let d = elf_dynamic(&mut std::io::Cursor::new(elf_with(&[(DT_NEEDED, "libxrt_coreutil.so.2")]))).unwrap();
        assert_eq!((d.needed, d.runpath), (vec!["libxrt_coreutil.so.2".to_string()], None));
    }

    #[test]
    fn runpath_rpath_and_not_elf() {
        let elf_runpath = |c: &mut std::io::Cursor<Vec<u8>>| elf_dynamic(c).and_then(|d| d.runpath);
        let rp = "/nix/store/x-xrt-2.21.0/lib:$ORIGIN/../lib";
        let e = elf_with_runpath(rp, DT_RUNPATH);
        assert_eq!(
            elf_runpath(&mut std::io::Cursor::new(e)).unwrap(),
            ["/nix/store/x-xrt-2.21.0/lib", "$ORIGIN/../lib"]
        );
        let e = elf_with_runpath("/opt/xilinx/xrt/lib", DT_RPATH);
        assert_eq!(elf_runpath(&mut std::io::Cursor::new(e)).unwrap(), ["/opt/xilinx/xrt/lib"]);
        assert_eq!(elf_runpath(&mut std::io::Cursor::new(b"#!/bin/sh\necho\n".to_vec())), None);
        assert_eq!(elf_runpath(&mut std::io::Cursor::new(vec![0x7f, b'E', b'L', b'F'])), None);
        assert_eq!(expand_origin("$ORIGIN/../lib", "/opt/fastflowlm/bin"), "/opt/fastflowlm/bin/../lib");
    }
}
