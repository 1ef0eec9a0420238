package spec

import (
	"slices"
	"strings"
	"testing"
)

func TestParseOutputs(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    []string
		want  []Output
		error string
	}{
		{"iso", []string{"iso"}, []Output{OutputISO}, ""},
		{"spaces", []string{" iso "}, []Output{OutputISO}, ""},
		{"none", nil, nil, "no output named"},
		{"unknown", []string{"vmdk"}, nil, `unknown value "vmdk"`},
		{"twice", []string{"iso", "iso"}, nil, "listed twice"},
		{"disk images", []string{"iso", "qcow2", "raw"}, []Output{OutputISO, OutputQCOW2, OutputRaw}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseOutputs(tc.in)
			if tc.error != "" {
				if err == nil || !strings.Contains(err.Error(), tc.error) {
					t.Fatalf("err = %v, want %q", err, tc.error)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, %v", got, err)
			}
		})
	}
}

// SetOutputs changes the outputs and no other line: every other field keeps
// its position.
func TestSetOutputs(t *testing.T) {
	both := []Output{OutputISO, OutputQCOW2}
	for _, tc := range []struct {
		name, file, src, want string
	}{
		{"added", "a.yaml", "base: debian\nname: x\n", "base: debian\nname: x\noutputs: [iso, qcow2]\n"},
		{"added without a final line break", "a.yaml", "base: debian", "base: debian\noutputs: [iso, qcow2]\n"},
		{"flow value replaced", "a.yaml", "base: debian\noutputs: [raw] # disk\nname: x\n", "base: debian\noutputs: [iso, qcow2]\nname: x\n"},
		{"block value replaced", "a.yaml", "outputs:\n  - raw\n  # more\n  - qcow2\nbase: debian\n", "outputs: [iso, qcow2]\n\n\n\nbase: debian\n"},
		{"last field replaced", "a.yaml", "base: debian\noutputs:\n  - raw", "base: debian\noutputs: [iso, qcow2]\n"},
		{"json added", "a.json", "{\n  \"base\": \"debian\"\n}\n", "{\"outputs\": [\"iso\",\"qcow2\"],\n  \"base\": \"debian\"\n}\n"},
		{"json empty object", "a.json", "{}", "{\"outputs\": [\"iso\",\"qcow2\"]}"},
		{"json replaced", "a.json", "{\"base\": \"debian\",\n \"outputs\": [\n  \"raw\"\n ], \"name\": \"x\"}", "{\"base\": \"debian\",\n \"outputs\": [\"iso\",\"qcow2\"\n\n], \"name\": \"x\"}"},
		{"not a spec is left alone", "a.yaml", "base: [", "base: ["},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SetOutputs(tc.file, []byte(tc.src), both)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Fatalf("got\n%q\nwant\n%q", got, tc.want)
			}
			if tc.name == "not a spec is left alone" {
				return
			}
			doc, diags := Decode(tc.file, got)
			if doc.Spec == nil || !slices.Equal(doc.Spec.Outputs, both) {
				t.Fatalf("outputs not set: %v %s", doc.Spec, diags.Error())
			}
			// Every other field is where it was.
			before, _ := Decode(tc.file, []byte(tc.src))
			for p, pos := range before.positions {
				now := doc.positions[p]
				if strings.HasSuffix(tc.file, ".json") {
					// Fields after the value on its line move along it.
					now.Column, pos.Column = 0, 0
				}
				if p != "" && !strings.HasPrefix(p, "outputs") && now != pos {
					t.Errorf("%s moved from %v to %v", p, pos, doc.positions[p])
				}
			}
		})
	}
	for _, bad := range []string{"{base: debian}", "base: debian\n...\n"} {
		if _, err := SetOutputs("a.yaml", []byte(bad), both); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// SetOutputs takes any bytes without panicking, and what it rewrites has
// the outputs it was given.
func FuzzSetOutputs(f *testing.F) {
	for _, s := range []string{"base: debian\n", "outputs: [raw]\nbase: debian", "{\"base\": \"debian\", \"outputs\": [\"raw\"]}", "outputs:\n  - &a raw\nx: *a", "- a\n- b"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, src string, asJSON bool) {
		file := "f.yaml"
		if asJSON {
			file = "f.json"
		}
		got, err := SetOutputs(file, []byte(src), []Output{OutputISO})
		if err != nil || string(got) == src {
			return
		}
		doc, _ := Decode(file, got)
		if doc.Spec != nil && len(doc.Spec.Outputs) > 0 && !slices.Equal(doc.Spec.Outputs, []Output{OutputISO}) {
			t.Fatalf("outputs %v after rewriting %q into %q", doc.Spec.Outputs, src, got)
		}
	})
}

// Which disk images are installed from the live ISO, and on what disk.
func TestDiskByInstall(t *testing.T) {
	tests := []struct {
		yaml      string
		byInstall bool
		installer bool  // the ISO carries linux-builder-install
		size      int64 // DiskImageBytes
	}{
		{"base: debian\noutputs: [qcow2]\nfilesystem: {root: xfs}", true, true, DefaultInstallDiskBytes},
		{"base: ubuntu\noutputs: [raw]\nfilesystem: {root: f2fs, diskSize: 20G}", true, true, 20 << 30},
		{"base: debian\noutputs: [raw]\nfilesystem: {lvm: true}", true, true, DefaultInstallDiskBytes},
		{"base: debian\noutputs: [raw]\nfilesystem: {root: btrfs, lvm: true, diskSize: 10G}", true, true, 10 << 30},
		// The disk step lays these out itself.
		{"base: debian\noutputs: [raw]\nfilesystem: {root: btrfs}", false, false, 0},
		{"base: debian\noutputs: [iso, raw]\nfilesystem: {root: ext4, diskSize: 4G}", false, true, 4 << 30},
		// No disk image: the ISO's installer only.
		{"base: debian\nfilesystem: {root: xfs}", false, true, 0},
		// Refused by the rules: encrypted, no installer, no installer's fs.
		{"base: debian\noutputs: [qcow2]\nfilesystem: {root: xfs, encryption: luks2}", false, false, 0},
		{"base: arch\noutputs: [qcow2]\nfilesystem: {root: xfs}", false, false, 0},
		{"base: debian\narchitecture: aarch64\noutputs: [qcow2]\nfilesystem: {lvm: true}", false, false, 0},
		{"base: debian\noutputs: [qcow2]\nfilesystem: {root: bcachefs, lvm: true}", false, false, 0},
	}
	for _, tc := range tests {
		doc, diags := Parse("spec.yaml", []byte(tc.yaml))
		if doc.Spec == nil {
			t.Fatalf("%q: %s", tc.yaml, diags.Error())
		}
		s := doc.Spec
		if got := s.DiskByInstall(); got != tc.byInstall {
			t.Errorf("%q: DiskByInstall = %v, want %v", tc.yaml, got, tc.byInstall)
		}
		if got := s.HasInstaller(); got != tc.installer {
			t.Errorf("%q: HasInstaller = %v, want %v", tc.yaml, got, tc.installer)
		}
		if got := s.DiskImageBytes(); got != tc.size {
			t.Errorf("%q: DiskImageBytes = %d, want %d", tc.yaml, got, tc.size)
		}
	}
}
