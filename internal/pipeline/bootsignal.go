package pipeline

// The boot test tells the system it boots that it is being tested, so the
// ISO and disk images users download stay inert: their boot-test marker
// (which prints a line and powers the machine off) runs only under the
// boot test. The signal is a value in the machine's SMBIOS tables (type 1,
// System Information, Family) that QEMU is given by the boot tester; the
// boot loader's script reads it (GRUB's smbios command) and then adds
// BootTestParam to the kernel command line, where the marker's unit or
// script looks for it. Neither the marker's text nor anything else the
// test waits for is on the command line: the kernel prints its command
// line on the console, which would fake a pass.
const (
	// BootTestSMBIOSFamily is the SMBIOS System Family of a boot-test
	// machine.
	BootTestSMBIOSFamily = "linux-builder-boot-test"
	// BootTestParam is the kernel parameter that arms the marker.
	BootTestParam = "linux-builder.boot-test"
)

// SecureBootGRUBLine is what the grub.cfg of the ISO and of disk images
// prints on the console when GRUB runs locked down (GRUB sets $lockdown
// when shim verified it, which it does only with Secure Boot on): the
// boot test's evidence of Secure Boot when the kernel is quiet.
const SecureBootGRUBLine = "Linux Builder: GRUB runs under UEFI Secure Boot"

// GRUBBootTestGate is the grub.cfg fragment of the ISO and of disk images
// that reads the boot-test signal: it sets $lb_test to BootTestParam only
// on a machine whose SMBIOS System Family is BootTestSMBIOSFamily (GRUB's
// smbios command, built into the host's GRUB images and Debian's signed
// ones), for the menu entries to add to the kernel command line. On that
// machine the menu does not wait either (timeout 0: nobody is there to
// choose; a user's machine keeps the menu's timeout). It also prints
// SecureBootGRUBLine when GRUB runs locked down.
func GRUBBootTestGate() string {
	return `# The boot test's machine says so in its SMBIOS tables; only then is the
# boot-test marker armed (on a user's machine it does nothing).
set lb_test=
if insmod smbios; then
	if smbios --type 1 --get-string 0x1a --set lb_family; then
		if [ "$lb_family" = "` + BootTestSMBIOSFamily + `" ]; then set lb_test=` + BootTestParam + `; fi
	fi
fi
if [ -n "$lb_test" ]; then
	set timeout=0
fi
export lb_test
# GRUB is locked down when shim verified it, which it does only with UEFI
# Secure Boot on.
if [ "$lockdown" = "y" ]; then echo "` + SecureBootGRUBLine + `"; fi
`
}
