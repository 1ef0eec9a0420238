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
