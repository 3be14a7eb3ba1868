//! One IDE channel: two device places sharing the task-file ports, the
//! device control register, one interrupt line and one bus-master engine.

use crate::dma::DmaMemory;
use crate::{IrqLine, rate_limited};

use super::drive::{Drive, status};

/// Device control register bits.
pub(crate) mod control {
    /// Interrupts disabled.
    pub const NIEN: u8 = 0x02;
    /// Software reset, held while set.
    pub const SRST: u8 = 0x04;
    /// Read the high-order bytes of the 48-bit registers.
    pub const HOB: u8 = 0x80;
}

/// Bus-master command register bits.
pub(crate) mod bm_cmd {
    pub const START: u8 = 0x01;
    /// Direction: device to memory.
    pub const WRITE_TO_MEMORY: u8 = 0x08;
}

/// Bus-master status register bits.
pub(crate) mod bm_status {
    pub const ACTIVE: u8 = 0x01;
    pub const ERROR: u8 = 0x02;
    pub const INTERRUPT: u8 = 0x04;
    /// Drive 0/1 DMA capable (software-set flags).
    pub const DRIVE_CAPABLE: u8 = 0x60;
}

/// Most PRD entries the engine walks for one transfer: a table may not
/// cross a 64 KiB boundary, so 8192 eight-byte entries is all it can
/// hold. A table without EOT ends there.
pub const MAX_PRD_ENTRIES: u32 = 65536 / 8;

/// Bytes moved per step between the medium and guest memory.
const DMA_CHUNK: usize = 64 * 1024;

/// SFF-8038i bus-master registers of one channel.
#[derive(Debug, Default)]
pub(crate) struct BusMaster {
    pub cmd: u8,
    pub status: u8,
    pub prd: u32,
}

#[derive(Debug)]
pub(crate) struct Channel {
    pub drives: [Drive; 2],
    /// The selected device (DEV bit of the device register).
    pub unit: usize,
    pub ctrl: u8,
    pub irq_pending: bool,
    pub irq: IrqLine,
    pub bm: BusMaster,
    scratch: Vec<u8>,
}

impl Channel {
    pub fn new(irq: IrqLine) -> Self {
        Self {
            drives: [Drive::empty(), Drive::empty()],
            unit: 0,
            ctrl: 0,
            irq_pending: false,
            irq,
            bm: BusMaster::default(),
            scratch: Vec::new(),
        }
    }

    /// Word 93 (hardware reset result) for both devices: device 0 says
    /// whether device 1 answered (and, if not, that it responds for it,
    /// which SeaBIOS takes as "no slave"), device 1 that it is there;
    /// both report an 80-conductor cable.
    pub fn update_reset_results(&mut self) {
        let slave = self.drives[1].present();
        let mut master = 0x6000 | 0x0001 | 0x0002 | 0x0008;
        if slave {
            master |= 0x0010 | 0x0020;
        } else {
            master |= 0x0040;
        }
        self.drives[0].reset_result = master;
        self.drives[1].reset_result = 0x6000 | 0x0100 | 0x0200 | 0x0800;
    }

    /// Back to power-on state.
    pub fn reset(&mut self) {
        for d in &mut self.drives {
            d.power_on_reset();
        }
        self.unit = 0;
        self.ctrl = 0;
        self.bm = BusMaster::default();
        self.irq_pending = false;
        self.update_irq();
    }

    fn any_present(&self) -> bool {
        self.drives.iter().any(Drive::present)
    }

    /// Drive INTRQ onto the line: a pending interrupt, unless nIEN.
    fn update_irq(&mut self) {
        self.irq.set_level(self.irq_pending && self.ctrl & control::NIEN == 0);
    }

    /// Take the devices' interrupt requests (after anything that may
    /// have made one). The bus-master status records every interrupt,
    /// as on the PIIX, so a DMA driver can tell it was this channel.
    fn collect_irqs(&mut self) {
        let mut raised = false;
        for d in &mut self.drives {
            raised |= std::mem::take(&mut d.irq);
        }
        if raised {
            self.irq_pending = true;
            self.bm.status |= bm_status::INTERRUPT;
        }
        self.update_irq();
    }

    fn clear_irq(&mut self) {
        self.irq_pending = false;
        self.update_irq();
    }

    // --- task file ports (offsets 0-7 from the command block base) ---

    /// Read task-file register `reg` (1-7).
    pub fn read_reg(&mut self, reg: u16) -> u8 {
        let any = self.any_present();
        let hob = self.ctrl & control::HOB != 0;
        let d = &self.drives[self.unit];
        // With nothing attached the bus floats to 0 here (as on QEMU,
        // whose behaviour guests are tuned to); an absent selected device
        // reads 0 in status and error, while the shadow registers still
        // hold what was written (both devices latch every write).
        let absent = !any || !d.present();
        match reg {
            1 if absent => 0,
            1 if hob => d.hob_feature,
            1 => d.error,
            _ if !any => 0,
            2 if hob => d.hob_nsector,
            2 => d.nsector,
            3 if hob => d.hob_lbal,
            3 => d.lbal,
            4 if hob => d.hob_lbam,
            4 => d.lbam,
            5 if hob => d.hob_lbah,
            5 => d.lbah,
            6 => d.select,
            7 => {
                let v = if absent { 0 } else { d.status };
                self.clear_irq();
                v
            }
            _ => 0xFF,
        }
    }

    /// The alternate status register: status without clearing the
    /// interrupt.
    pub fn alt_status(&self) -> u8 {
        let d = &self.drives[self.unit];
        if d.present() { d.status } else { 0 }
    }

    /// Write task-file register `reg` (1-7).
    pub fn write_reg(&mut self, reg: u16, value: u8) {
        // Any command block write clears HOB.
        self.ctrl &= !control::HOB;
        match reg {
            1..=5 => {
                for d in &mut self.drives {
                    let (cur, hob) = match reg {
                        1 => (&mut d.feature, &mut d.hob_feature),
                        2 => (&mut d.nsector, &mut d.hob_nsector),
                        3 => (&mut d.lbal, &mut d.hob_lbal),
                        4 => (&mut d.lbam, &mut d.hob_lbam),
                        _ => (&mut d.lbah, &mut d.hob_lbah),
                    };
                    *hob = *cur;
                    *cur = value;
                }
            }
            6 => {
                for d in &mut self.drives {
                    d.select = value | 0xA0;
                }
                self.unit = usize::from(value >> 4 & 1);
            }
            7 => self.command(value),
            _ => {}
        }
    }

    fn command(&mut self, cmd: u8) {
        if self.ctrl & control::SRST != 0 {
            return;
        }
        if cmd == 0x90 {
            return self.execute_device_diagnostic();
        }
        let d = &mut self.drives[self.unit];
        if !d.present() {
            return;
        }
        // While a command moves data (or waits for the bus master), only
        // DEVICE RESET gets through, and only to ATAPI devices.
        if d.status & (status::BSY | status::DRQ) != 0 && !(cmd == 0x08 && d.is_atapi()) {
            rate_limited!(debug, cmd, "IDE command ignored: device busy");
            return;
        }
        self.irq_pending = false;
        if d.is_atapi() {
            d.atapi_ata_command(cmd);
        } else {
            d.ata_command(cmd);
        }
        self.collect_irqs();
    }

    /// EXECUTE DEVICE DIAGNOSTIC: both devices test themselves (always
    /// passing), load their signatures, and device 0 interrupts.
    fn execute_device_diagnostic(&mut self) {
        if !self.drives[self.unit].present() && !self.drives[0].present() {
            return;
        }
        for d in &mut self.drives {
            if d.present() {
                d.soft_reset();
            }
        }
        // Device 0 reports 01 (it and device 1, if any, passed).
        self.irq_pending = false;
        let d = &mut self.drives[self.unit];
        if d.present() {
            d.irq = true;
        } else {
            self.drives[0].irq = true;
        }
        self.collect_irqs();
    }

    /// Write the device control register.
    pub fn write_control(&mut self, value: u8) {
        let old = self.ctrl;
        self.ctrl = value;
        let was_reset = old & control::SRST != 0;
        let in_reset = value & control::SRST != 0;
        if in_reset && !was_reset {
            // Reset asserted: devices busy until it is released.
            for d in &mut self.drives {
                if d.present() {
                    d.soft_reset();
                    d.status = status::BSY;
                }
            }
            self.irq_pending = false;
        } else if was_reset && !in_reset {
            // Released: the devices finish their reset at once; device 0
            // is selected.
            for d in &mut self.drives {
                d.soft_reset();
                d.select = 0xA0;
            }
            self.unit = 0;
        }
        self.update_irq();
    }

    // --- the data port ---

    pub fn data_read(&mut self, len: usize) -> u32 {
        let v = self.drives[self.unit].data_read(len);
        self.collect_irqs();
        v
    }

    pub fn data_write(&mut self, len: usize, value: u32) {
        self.drives[self.unit].data_write(len, value);
        self.collect_irqs();
    }

    // --- bus master ---

    /// Read bus-master register byte `offset` (0-7).
    pub fn bm_read(&self, offset: u16) -> u8 {
        match offset {
            0 => self.bm.cmd,
            2 => self.bm.status,
            4..=7 => (self.bm.prd >> (8 * (offset - 4))) as u8,
            _ => 0,
        }
    }

    /// Write bus-master register byte `offset` (0-7).
    pub fn bm_write(&mut self, offset: u16, value: u8) {
        match offset {
            0 => {
                let was_started = self.bm.cmd & bm_cmd::START != 0;
                self.bm.cmd = value & (bm_cmd::START | bm_cmd::WRITE_TO_MEMORY);
                let start = value & bm_cmd::START != 0;
                if start && !was_started {
                    self.bm.status |= bm_status::ACTIVE;
                } else if !start {
                    // Stopping the engine abandons whatever was not moved.
                    self.bm.status &= !bm_status::ACTIVE;
                }
            }
            2 => {
                let w1c = value & (bm_status::ERROR | bm_status::INTERRUPT);
                self.bm.status &= !w1c;
                self.bm.status = (self.bm.status & !bm_status::DRIVE_CAPABLE) | (value & bm_status::DRIVE_CAPABLE);
            }
            4..=7 => {
                let shift = 8 * (offset - 4);
                let mut prd = self.bm.prd & !(0xFF << shift);
                prd |= u32::from(value) << shift;
                // The table is dword aligned.
                self.bm.prd = prd & !3;
            }
            _ => {}
        }
    }

    /// The unit whose DMA the engine would serve: the selected device,
    /// or else the other one if only it waits.
    fn dma_unit(&self) -> Option<usize> {
        let waiting = |u: usize| self.drives[u].dma.is_some();
        if waiting(self.unit) {
            Some(self.unit)
        } else if waiting(1 - self.unit) {
            Some(1 - self.unit)
        } else {
            None
        }
    }

    /// Size of the DMA staging buffer (tests check it stays bounded).
    #[cfg(test)]
    pub fn scratch_len(&self) -> usize {
        self.scratch.len()
    }

    /// Whether the engine is started and a device waits for it.
    pub fn dma_pending(&self) -> bool {
        self.bm.status & bm_status::ACTIVE != 0 && self.dma_unit().is_some()
    }

    /// Run the started engine: walk the PRD table and move the device's
    /// data to or from `mem` until one of them is exhausted.
    ///
    /// Outcomes (SFF-8038i): the device's transfer fits the table exactly
    /// → interrupt, not active; the table is larger → interrupt, still
    /// active (the driver stops the engine); the table is smaller →
    /// not active, no interrupt, the device still waits with DRQ (the
    /// driver times out and resets). Work is bounded by the device's
    /// transfer and [`MAX_PRD_ENTRIES`], whatever the table says.
    pub fn run_dma(&mut self, mem: &mut dyn DmaMemory) {
        if !self.dma_pending() {
            return;
        }
        let Some(unit) = self.dma_unit() else {
            return;
        };
        if self.scratch.len() < DMA_CHUNK {
            self.scratch = vec![0; DMA_CHUNK];
        }
        let mut table = self.bm.prd;
        let mut finished = false;
        let mut failed = false;
        let mut table_left_over = false;
        for _ in 0..MAX_PRD_ENTRIES {
            let mut entry = [0u8; 8];
            mem.read(u64::from(table), &mut entry);
            table = table.wrapping_add(8);
            let base = u32::from_le_bytes([entry[0], entry[1], entry[2], entry[3]]) & !1;
            let count = u16::from_le_bytes([entry[4], entry[5]]) & !1;
            let len = if count == 0 { 0x1_0000 } else { u64::from(count) };
            let end_of_table = entry[7] & 0x80 != 0;
            let mut done = 0u64;
            while done < len {
                let drive = &mut self.drives[unit];
                let want = drive.dma_remaining();
                if want == 0 {
                    break;
                }
                let n = (len - done).min(want).min(DMA_CHUNK as u64) as usize;
                let addr = u64::from(base) + done;
                let Some(x) = drive.dma else {
                    break;
                };
                let chunk = &mut self.scratch[..n];
                let ok = if x.to_memory {
                    let r = drive.dma_produce(chunk);
                    if r.is_ok() {
                        mem.write(addr, chunk);
                    }
                    r
                } else {
                    mem.read(addr, chunk);
                    drive.dma_consume(chunk)
                };
                if ok.is_err() {
                    failed = true;
                    break;
                }
                done += n as u64;
            }
            if failed {
                break;
            }
            if self.drives[unit].dma_remaining() == 0 {
                finished = true;
                table_left_over = done < len || !end_of_table;
                break;
            }
            if end_of_table {
                break;
            }
        }
        if failed {
            // The device ended the command with an error (and raised its
            // interrupt); the engine stops.
            self.bm.status &= !bm_status::ACTIVE;
        } else if finished {
            self.drives[unit].dma_complete();
            if !table_left_over {
                self.bm.status &= !bm_status::ACTIVE;
            }
        } else {
            // The table ran out first: the engine stops without an
            // interrupt; the device still wants the rest.
            self.bm.status &= !bm_status::ACTIVE;
        }
        self.collect_irqs();
    }
}
