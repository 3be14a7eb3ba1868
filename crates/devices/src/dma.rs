//! Bus-master DMA: how a device reaches guest memory.
//!
//! A device cannot hold guest memory while the CPU runs (the engine owns
//! it then), so DMA is driven by the machine: a device with a transfer
//! ready says so (e.g. [`crate::ide::Piix3Ide::dma_pending`]), the machine
//! ends the current run, and calls the device back with a [`DmaMemory`]
//! over guest RAM (e.g. [`crate::ide::Piix3Ide::run_dma`]). The whole
//! transfer then happens in that call, in virtual time zero.

/// Guest physical memory as a bus master sees it.
///
/// Addresses come from the guest and are hostile: the implementation must
/// treat any part of an access outside RAM (or in MMIO holes, ROM, beyond
/// 4 GiB, wrapping past `u64::MAX`) as nothing there: reads of it yield
/// all-ones bytes (what a PCI master abort returns), writes to it are
/// dropped. Neither call may panic, and each costs time linear in the
/// buffer's length only.
pub trait DmaMemory {
    /// Fill `buf` from guest physical `addr`.
    fn read(&mut self, addr: u64, buf: &mut [u8]);
    /// Store `data` at guest physical `addr`.
    fn write(&mut self, addr: u64, data: &[u8]);
}
