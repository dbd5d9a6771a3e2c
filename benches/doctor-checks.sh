#!/bin/sh
# The checks `npu-setup doctor` makes, typed as a shell script, for the scale benchmark's
# comparison row (benches/scale.rs): the same files read and the same commands run (the
# tree's replay shims, as doctor runs them), every verdict a grep. No evidence, remedies,
# ordering or report: the floor a hand-written check could reach. Usage: doctor-checks.sh ROOT
set -u
R=$1
PATH="$R/usr/bin:$R/usr/sbin:$R/opt/fastflowlm/bin:$PATH"
export NPU_SETUP_ROOT="$R" LC_ALL=C
say() { printf '%-18s %s\n' "$1" "$2"; }

. "$R/etc/os-release" 2>/dev/null; say host.os "${PRETTY_NAME:-unknown}"
kver=$(cat "$R/proc/sys/kernel/osrelease"); say host.kernel "$kver"
# NPU: the AMD function whose device id is an XDNA one.
npu=""
for d in "$R"/sys/bus/pci/devices/*; do
    [ "$(cat "$d/vendor")" = 0x1022 ] || continue
    case $(cat "$d/device") in 0x1502|0x17f0) npu=$d ;; esac
done
[ -n "$npu" ] && say npu.device "$(basename "$npu") rev $(cat "$npu/revision")" || say npu.device fail
cmdline=$(cat "$R/proc/cmdline")
case " $cmdline " in *" amd_iommu=off "*|*" iommu=off "*) say boot.iommu fail ;; *) say boot.iommu pass ;; esac
grep -l "amd_iommu=off" "$R"/boot/loader/entries/*.conf >/dev/null 2>&1 && say boot.next fail || say boot.next pass
for k in "$R"/lib/modules/*; do
    k=$(basename "$k")
    modinfo -k "$k" amdxdna 2>/dev/null | grep -q '^version:' && say driver.module "$k ok" || say driver.module "$k none"
done
[ -n "$npu" ] && [ "$(basename "$(readlink "$npu/driver")")" = amdxdna ] && say driver.bound pass || say driver.bound fail
ls "$R"/lib/firmware/amdnpu/*/npu*.sbin* >/dev/null 2>&1 && say firmware.files pass || say firmware.files fail
if journalctl -k -b 0 -o cat --no-pager | grep -E 'amdxdna|amdnpu|AMD-Vi|iommu|IO_PAGE_FAULT|[Ll]ockdown|module verification' \
    | grep -qE 'IO_PAGE_FAULT|amdxdna.*(Failed|error -|timed out)'; then say kernel.log fail; else say kernel.log pass; fi
[ -e "$R/dev/accel/accel0" ] && say accel.node pass || say accel.node fail
grep -hsE '^[^#]*memlock' "$R"/etc/security/limits.conf "$R"/etc/security/limits.d/*.conf | grep -q unlimited \
    && say limits.memlock pass || say limits.memlock warn
dkms status 2>/dev/null | grep -q "amdxdna.*$kver.*installed" && say dkms.state pass || say dkms.state warn
mokutil --sb-state 2>/dev/null | grep -q enabled && mokutil --list-enrolled >/dev/null 2>&1
say secureboot.signing done
rpm -q --qf '%{NAME} %{VERSION}-%{RELEASE}\n' xrt xrt-plugin-amdxdna fastflowlm lemonade-server dkms mokutil \
    "kernel-devel-$kver" >/dev/null 2>&1; say xrt.install done
ldconfig -p | grep -q libxrt_coreutil && say xrt.loader pass || say xrt.loader fail
flm version --json >/dev/null 2>&1 && say flm.install pass || say flm.install fail
flm validate --json 2>/dev/null | grep -q '"ready"\|true' && say flm.validate pass || say flm.validate warn
for u in lemond.service lemonade-server.service; do
    systemctl show --no-pager -p Id,LoadState,ActiveState,SubState,UnitFileState,FragmentPath,DropInPaths,ExecStart,Environment,EnvironmentFiles,User,LimitMEMLOCK "$u" >/dev/null 2>&1
done
say lemonade.service done
exit 0
