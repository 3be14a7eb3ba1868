//! Port I/O: IN, OUT and the permission checks (IOPL, TSS I/O bitmap)
//! that INS/OUTS share.

use super::insn::{Handler, Insn};
use crate::ctx::Ctx;
use crate::exception::{Exception, Res};
use crate::flags::{W8, W16, W32, Width};
use crate::state::reg;
use iced_x86::Code;
use x86::descriptor::sys;

impl Ctx<'_> {
    /// Whether `size` bytes at `port` may be accessed: always in real mode
    /// and when CPL <= IOPL; otherwise (and always in virtual-8086 mode)
    /// the TSS I/O permission bitmap decides (SDM vol. 1, 19.5).
    pub fn check_io(&mut self, port: u16, size: u32) -> Res {
        if !self.s.protected_mode() || (!self.s.v86_mode() && self.s.cpl <= self.s.iopl()) {
            return Ok(());
        }
        let tr = self.s.tr;
        // Only a 32-bit TSS has a bitmap. TR always holds a busy TSS, but
        // accept both types of the 32-bit format.
        let tss32 = matches!(tr.typ(), sys::TSS32_AVAIL | sys::TSS32_BUSY);
        if !tss32 || tr.limit() < 0x67 {
            return Err(Exception::gp0());
        }
        let map = self.read_sys::<W16>(tr.base().wrapping_add(0x66))?;
        let byte = map + (port as u32 >> 3);
        if byte + 1 > tr.limit() {
            return Err(Exception::gp0());
        }
        let bits = self.read_sys::<W16>(tr.base().wrapping_add(byte))?;
        let mask = ((1u32 << size) - 1) << (port & 7);
        if bits & mask != 0 {
            return Err(Exception::gp0());
        }
        Ok(())
    }

    /// IN through the bus.
    pub fn port_in(&mut self, port: u16, size: u8) -> u32 {
        let v = self.bus.port_in(port, size);
        // A device may have raised an interrupt or asked for a stop.
        self.end_block = true;
        self.io_done = true;
        v
    }

    /// OUT through the bus.
    pub fn port_out(&mut self, port: u16, size: u8, v: u32) {
        self.bus.port_out(port, size, v);
        self.end_block = true;
        self.io_done = true;
    }
}

/// IN acc, imm8 (`IMM`) or IN acc, DX.
fn in_<W: Width, const IMM: bool>(c: &mut Ctx, i: &Insn) -> Res {
    let port = if IMM { (i.imm & 0xFF) as u16 } else { c.s.gpr[reg::EDX] as u16 };
    c.check_io(port, W::BYTES)?;
    let v = c.port_in(port, W::BYTES as u8);
    c.set_reg::<W>(0, v);
    Ok(())
}

fn out<W: Width, const IMM: bool>(c: &mut Ctx, i: &Insn) -> Res {
    let port = if IMM { (i.imm & 0xFF) as u16 } else { c.s.gpr[reg::EDX] as u16 };
    c.check_io(port, W::BYTES)?;
    let v = c.reg::<W>(0);
    c.port_out(port, W::BYTES as u8, v);
    Ok(())
}

pub(super) fn lookup(code: Code) -> Option<Handler> {
    use Code as C;
    Some(match code {
        C::In_AL_imm8 => in_::<W8, true>,
        C::In_AX_imm8 => in_::<W16, true>,
        C::In_EAX_imm8 => in_::<W32, true>,
        C::In_AL_DX => in_::<W8, false>,
        C::In_AX_DX => in_::<W16, false>,
        C::In_EAX_DX => in_::<W32, false>,
        C::Out_imm8_AL => out::<W8, true>,
        C::Out_imm8_AX => out::<W16, true>,
        C::Out_imm8_EAX => out::<W32, true>,
        C::Out_DX_AL => out::<W8, false>,
        C::Out_DX_AX => out::<W16, false>,
        C::Out_DX_EAX => out::<W32, false>,
        _ => return None,
    })
}
