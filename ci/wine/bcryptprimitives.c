/* A stand-in for Windows' bcryptprimitives.dll, for running Rust programs
 * under Wine 8 (Debian 12), which lacks it.
 *
 * Rust's standard library for Windows imports ProcessPrng from this DLL to
 * seed HashMap keys; without it every Rust executable fails to start under
 * that Wine. This one export fills the buffer from RtlGenRandom, which Wine
 * has (advapi32's SystemFunction036). Test use only: ci/windows.sh builds it
 * and puts it beside the test executables; it is never shipped.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG len);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
