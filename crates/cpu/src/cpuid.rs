//! The CPU model CPUID reports: a P6-family processor (family 6, model 5,
//! "Pentium II"-class) that advertises exactly what ringvisor implements.
//!
//! | bit | feature | why it is there |
//! | --- | --- | --- |
//! | 0 | FPU | x87 in 80-bit precision |
//! | 3 | PSE | 4 MiB pages |
//! | 4 | TSC | RDTSC from virtual time, CR4.TSD |
//! | 5 | MSR | RDMSR/WRMSR |
//! | 8 | CX8 | CMPXCHG8B |
//! | 11 | SEP | SYSENTER/SYSEXIT |
//! | 12 | MTRR | MTRR MSRs as storage (caching is not modelled: invisible to software) |
//! | 13 | PGE | global pages |
//! | 15 | CMOV | CMOVcc, FCMOVcc, FCOMI |
//! | 16 | PAT | IA32_PAT as storage |
//! | 23 | MMX | MMX instructions |
//! | 24 | FXSR | FXSAVE/FXRSTOR, CR4.OSFXSR |
//!
//! Not advertised, because not implemented: VME and DE (CR4 bits refused),
//! PAE, MCE/MCA, APIC (no local APIC yet), PSE-36, SSE and later.

/// Processor signature: family 6, model 5, stepping 2.
pub const SIGNATURE: u32 = 0x0000_0652;

/// CPUID.1:EDX.
pub const FEATURES_EDX: u32 = (1 << 0)
    | (1 << 3)
    | (1 << 4)
    | (1 << 5)
    | (1 << 8)
    | (1 << 11)
    | (1 << 12)
    | (1 << 13)
    | (1 << 15)
    | (1 << 16)
    | (1 << 23)
    | (1 << 24);

/// Highest standard leaf.
pub const MAX_LEAF: u32 = 2;

/// Result of CPUID for leaf `eax` (sub-leaf `ecx` unused by these leaves):
/// (EAX, EBX, ECX, EDX).
pub fn cpuid(eax: u32, _ecx: u32) -> (u32, u32, u32, u32) {
    match eax {
        // "GenuineIntel": EBX, EDX, ECX.
        0 => (MAX_LEAF, 0x756E_6547, 0x6C65_746E, 0x4965_6E69),
        1 => (SIGNATURE, 0, 0, FEATURES_EDX),
        // Cache and TLB descriptors of a Pentium II: 32-entry 4K ITLB,
        // 64-entry 4K DTLB, 8-entry 4M DTLB, 2-entry 4M ITLB, 16 KiB L1
        // I and D, 512 KiB L2.
        2 => (0x0302_0101, 0, 0, 0x0C04_0843),
        // Leaves above the maximum return the highest basic leaf's data
        // on Intel processors.
        _ => (0x0302_0101, 0, 0, 0x0C04_0843),
    }
}

/// Time-stamp counter rate: TSC ticks per microsecond of virtual time.
pub const TSC_MHZ: u64 = 1000;
