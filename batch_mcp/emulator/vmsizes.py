"""Azure VM sizes a Batch pool may name, with their vCPU counts.

A pool's `vmSize` is checked here as the service checks it: the name must be an Azure VM size
(case does not matter), and the cloud service sizes (`small`, `a8`, ...) go only with
`cloudServiceConfiguration`. Anything else is 400 InvalidPropertyValue on `vmSize`. The vCPU
count feeds the core hours the emulator reports (usage metrics, pool statistics).

The list is built from the size families Azure documents (general purpose, compute, memory,
storage, GPU, HPC, confidential), current and retired, so older scripts still run.
"""

from __future__ import annotations

from batch_mcp.emulator import errors

# Cloud Services (classic) sizes: only for cloudServiceConfiguration pools.
CLOUD_SERVICE_SIZES = {
    "extrasmall": 1,
    "small": 1,
    "medium": 2,
    "large": 4,
    "extralarge": 8,
    "a5": 2,
    "a6": 4,
    "a7": 8,
    "a8": 8,
    "a9": 16,
    "a10": 8,
    "a11": 16,
}

_STEPS = (2, 4, 8, 16, 32, 48, 64, 96)
_STEPS_V6 = (*_STEPS, 128, 192)


def _series(pattern: str, cores: tuple[int, ...]) -> dict[str, int]:
    """`pattern` holds `{}` where the vCPU count goes: `D{}s_v5` → D2s_v5, D4s_v5, ..."""
    return {f"standard_{pattern.format(n)}".lower(): n for n in cores}


def _named(**sizes: int) -> dict[str, int]:
    return {(name if name.startswith("basic_") else f"standard_{name}").lower(): n for name, n in sizes.items()}


def _build() -> dict[str, int]:
    sizes: dict[str, int] = {}
    sizes |= _named(basic_a0=1, basic_a1=1, basic_a2=2, basic_a3=4, basic_a4=8)
    sizes |= _named(A0=1, A1=1, A2=2, A3=4, A4=8, A5=2, A6=4, A7=8, A8=8, A9=16, A10=8, A11=16)
    sizes |= _named(A1_v2=1, A2_v2=2, A4_v2=4, A8_v2=8, A2m_v2=2, A4m_v2=4, A8m_v2=8)
    sizes |= _named(B1ls=1, B1s=1, B1ms=1, B2s=2, B2ms=2, B4ms=4, B8ms=8, B12ms=12, B16ms=16, B20ms=20)
    for pattern in ("B{}s_v2", "B{}ls_v2", "B{}ms_v2", "B{}as_v2", "B{}als_v2", "B{}ts_v2", "B{}ats_v2"):
        sizes |= _series(pattern, (2, 4, 8, 16, 32))
    # D-family, first generations
    sizes |= _named(D1=1, D2=2, D3=4, D4=8, D11=2, D12=4, D13=8, D14=16)
    sizes |= _named(DS1=1, DS2=2, DS3=4, DS4=8, DS11=2, DS12=4, DS13=8, DS14=16)
    sizes |= _named(D1_v2=1, D2_v2=2, D3_v2=4, D4_v2=8, D5_v2=16, D11_v2=2, D12_v2=4, D13_v2=8, D14_v2=16, D15_v2=20)
    sizes |= _named(DS1_v2=1, DS2_v2=2, DS3_v2=4, DS4_v2=8, DS5_v2=16, DS11_v2=2, DS12_v2=4, DS13_v2=8)
    sizes |= _named(DS14_v2=16, DS15_v2=20, DS11_1_v2=2, DS12_1_v2=4, DS12_2_v2=4, DS13_2_v2=8, DS13_4_v2=8)
    sizes |= _series("D{}_v3", _STEPS[:-1]) | _series("D{}s_v3", _STEPS[:-1])
    sizes |= _series("E{}_v3", (2, 4, 8, 16, 20, 32, 48, 64)) | _series("E{}s_v3", (2, 4, 8, 16, 20, 32, 48, 64))
    sizes |= _named(E64i_v3=64, E64is_v3=64)
    for pattern in ("D{}_v4", "D{}s_v4", "D{}d_v4", "D{}ds_v4", "E{}_v4", "E{}s_v4", "E{}d_v4", "E{}ds_v4"):
        sizes |= _series(pattern, (2, 4, 8, 16, 20, 32, 48, 64) if pattern.startswith("E") else _STEPS[:-1])
    for pattern in ("D{}a_v4", "D{}as_v4", "E{}a_v4", "E{}as_v4"):
        sizes |= _series(pattern, _STEPS)
    for pattern in ("D{}_v5", "D{}s_v5", "D{}d_v5", "D{}ds_v5", "D{}as_v5", "D{}ads_v5", "D{}ls_v5", "D{}lds_v5"):
        sizes |= _series(pattern, _STEPS)
    for pattern in ("D{}ps_v5", "D{}pds_v5", "D{}pls_v5", "D{}plds_v5", "E{}ps_v5", "E{}pds_v5"):
        sizes |= _series(pattern, (2, 4, 8, 16, 32, 48, 64))
    for pattern in ("E{}_v5", "E{}s_v5", "E{}d_v5", "E{}ds_v5", "E{}as_v5", "E{}ads_v5"):
        sizes |= _series(pattern, (2, 4, 8, 16, 20, 32, 48, 64, 96))
    sizes |= _named(E104i_v5=104, E104is_v5=104, E104id_v5=104, E104ids_v5=104, E112iads_v5=112, E112ias_v5=112)
    for pattern in ("D{}s_v6", "D{}ds_v6", "D{}ls_v6", "D{}lds_v6", "D{}as_v6", "D{}ads_v6", "D{}als_v6", "D{}alds_v6"):
        sizes |= _series(pattern, _STEPS_V6)
    for pattern in ("D{}ps_v6", "D{}pds_v6", "D{}pls_v6", "D{}plds_v6", "E{}ps_v6", "E{}pds_v6"):
        sizes |= _series(pattern, (2, 4, 8, 16, 32, 48, 64, 96))
    for pattern in ("E{}s_v6", "E{}ds_v6", "E{}as_v6", "E{}ads_v6"):
        sizes |= _series(pattern, (2, 4, 8, 16, 20, 32, 48, 64, 96, 128, 192))
    # compute optimized
    sizes |= _named(F1=1, F2=2, F4=4, F8=8, F16=16, F1s=1, F2s=2, F4s=4, F8s=8, F16s=16)
    sizes |= _series("F{}s_v2", (2, 4, 8, 16, 32, 48, 64, 72))
    for pattern in ("F{}as_v6", "F{}als_v6", "F{}ams_v6"):
        sizes |= _series(pattern, (2, 4, 8, 16, 32, 48, 64))
    sizes |= _named(FX4mds=4, FX12mds=12, FX24mds=24, FX36mds=36, FX48mds=48)
    sizes |= _named(G1=2, G2=4, G3=8, G4=16, G5=32, GS1=2, GS2=4, GS3=8, GS4=16, GS5=32)
    # storage optimized
    sizes |= _named(L4s=4, L8s=8, L16s=16, L32s=32)
    for pattern in ("L{}s_v2", "L{}s_v3", "L{}as_v3"):
        sizes |= _series(pattern, (8, 16, 32, 48, 64, 80))
    # memory optimized
    sizes |= _named(M8ms=8, M16ms=16, M32ts=32, M32ls=32, M32ms=32, M64s=64, M64ls=64, M64ms=64)
    sizes |= _named(M128s=128, M128ms=128, M208s_v2=208, M208ms_v2=208, M416s_v2=416, M416ms_v2=416)
    # GPU
    sizes |= _named(NC6=6, NC12=12, NC24=24, NC24r=24, NC6s_v2=6, NC12s_v2=12, NC24s_v2=24, NC24rs_v2=24)
    sizes |= _named(NC6s_v3=6, NC12s_v3=12, NC24s_v3=24, NC24rs_v3=24)
    sizes |= _named(NC4as_T4_v3=4, NC8as_T4_v3=8, NC16as_T4_v3=16, NC64as_T4_v3=64)
    sizes |= _named(NC24ads_A100_v4=24, NC48ads_A100_v4=48, NC96ads_A100_v4=96)
    sizes |= _named(NC40ads_H100_v5=40, NC80adis_H100_v5=80)
    sizes |= _named(ND6s=6, ND12s=12, ND24s=24, ND24rs=24, ND40rs_v2=40, ND96asr_v4=96, ND96amsr_A100_v4=96)
    sizes |= _named(ND96isr_H100_v5=96, ND96isr_H200_v5=96, ND96isr_MI300X_v5=96)
    sizes |= _named(NV6=6, NV12=12, NV24=24, NV12s_v3=12, NV24s_v3=24, NV48s_v3=48)
    sizes |= _named(NV4as_v4=4, NV8as_v4=8, NV16as_v4=16, NV32as_v4=32)
    sizes |= _named(NV6ads_A10_v5=6, NV12ads_A10_v5=12, NV18ads_A10_v5=18, NV36ads_A10_v5=36)
    sizes |= _named(NV36adms_A10_v5=36, NV72ads_A10_v5=72)
    # HPC
    sizes |= _named(H8=8, H16=16, H8m=8, H16m=16, H16r=16, H16mr=16, HC44rs=44, HC44_16rs=16, HC44_32rs=32)
    sizes |= _named(HB60rs=60, HB120rs_v2=120, HB120rs_v3=120, HB120_16rs_v3=16, HB120_32rs_v3=32)
    sizes |= _named(HB120_64rs_v3=64, HB120_96rs_v3=96, HB176rs_v4=176, HB176_96rs_v4=96, HX176rs=176)
    # confidential and FPGA
    sizes |= _named(DC1s_v2=1, DC2s_v2=2, DC4s_v2=4, DC8_v2=8)
    for pattern in ("DC{}as_v5", "DC{}ads_v5", "EC{}as_v5", "EC{}ads_v5"):
        sizes |= _series(pattern, _STEPS)
    sizes |= _series("DC{}s_v3", (1, 2, 4, 8, 16, 24, 32, 48)) | _series("DC{}ds_v3", (1, 2, 4, 8, 16, 24, 32, 48))
    sizes |= _named(NP10s=10, NP20s=20, NP40s=40)
    return sizes


VM_SIZES: dict[str, int] = _build()


def cores(vm_size: str | None, default: int) -> int:
    """vCPUs of a size; `default` for a name the list does not know."""
    if not vm_size:
        return default
    name = vm_size.lower()
    return VM_SIZES.get(name) or CLOUD_SERVICE_SIZES.get(name) or default


def check_vm_size(vm_size: object, *, cloud_service: bool) -> None:
    """400 InvalidPropertyValue unless `vm_size` is an Azure VM size this pool kind can use."""
    name = vm_size.lower() if isinstance(vm_size, str) else ""
    if name in VM_SIZES or (cloud_service and name in CLOUD_SERVICE_SIZES):
        return
    if name in CLOUD_SERVICE_SIZES:
        reason = "Cloud service sizes go with cloudServiceConfiguration; name an Azure VM size such as Standard_D2s_v5."
    else:
        reason = "Not an Azure VM size Batch supports; VM sizes look like Standard_D2s_v5 (case does not matter)."
    raise errors.invalid_property("vmSize", vm_size, reason)
