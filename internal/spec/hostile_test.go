package spec

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

func mustRead(t testing.TB, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// hostileInputs are generated rather than committed, since some are large.
func hostileInputs() map[string]struct {
	src  []byte
	code Code
	pos  Pos
} {
	type in = struct {
		src  []byte
		code Code
		pos  Pos
	}
	var bomb strings.Builder
	bomb.WriteString("base: debian\na0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i <= 30; i++ {
		fmt.Fprintf(&bomb, "a%d: &a%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*a%d, ", i-1), 10), ", "))
	}
	return map[string]in{
		"oversize": {[]byte("base: debian\nname: x\n" + strings.Repeat("# padding\n", MaxFileSize/10+1)), CodeTooLarge, Pos{1, 1}},
		// 100,000 brackets: far past MaxDepth and past go-yaml's own limit.
		"deep flow": {[]byte("base: debian\nx: " + strings.Repeat("[", 100000) + strings.Repeat("]", 100000)), CodeSyntax, Pos{2, 1}},
		"deep 40":   {[]byte("base: debian\nx: " + strings.Repeat("[", 40) + strings.Repeat("]", 40)), CodeTooDeep, Pos{2, 35}},
		"deep block": {[]byte("base: debian\nx:\n" + func() string {
			var b strings.Builder
			for i := range 40 {
				fmt.Fprintf(&b, "%sk%d:\n", strings.Repeat(" ", 2*(i+1)), i)
			}
			return b.String()
		}()), CodeTooDeep, Pos{34, 65}},
		"billion laughs (10^30 nodes)": {[]byte(bomb.String()), CodeAliasBomb, Pos{3, 10}},
		"deep through aliases": {[]byte("base: debian\n" + func() string {
			var b strings.Builder
			b.WriteString("a0: &a0 [[[[[[[[[[1]]]]]]]]]]\n")
			for i := 1; i <= 5; i++ {
				fmt.Fprintf(&b, "a%d: &a%d [[[[[[[[[[*a%d]]]]]]]]]]\n", i, i, i-1)
			}
			return b.String()
		}()), CodeTooDeep, Pos{3, 19}},
		"invalid utf-8 mid-line": {[]byte("base: debian\nname: ab\xc3\x28\n"), CodeEncoding, Pos{2, 9}},
		"utf-16":                 {[]byte("\xff\xfeb\x00a\x00s\x00e\x00"), CodeEncoding, Pos{1, 1}},
		"many nodes":             {[]byte("base: debian\nx: [" + strings.Repeat("1,", 30000) + "1]\n"), CodeTooLarge, Pos{2, 39995}},
		"long line":              {[]byte("base: debian\nname: " + strings.Repeat("a", 200000) + "\n"), CodePattern, Pos{2, 7}},
		// Mount points that name another: the installer and fstab would
		// mount over / or /boot.
		"mount point /..":     {[]byte("base: debian\nfilesystem:\n  partitions:\n    - {mount: /.., size: 1G}\n"), CodePattern, Pos{4, 15}},
		"mount point /./boot": {[]byte("base: debian\nfilesystem:\n  partitions:\n    - {mount: /./boot, size: 1G}\n"), CodePattern, Pos{4, 15}},
		"mount point /var/..": {[]byte("base: debian\nfilesystem:\n  partitions:\n    - {mount: /var/.., size: 1G}\n"), CodePattern, Pos{4, 15}},
	}
}

func TestHostileInputIsRejectedWithAPosition(t *testing.T) {
	for name, tc := range hostileInputs() {
		t.Run(name, func(t *testing.T) {
			_, diags := parseBounded(t, "h.yaml", tc.src)
			errs := diags.Errors()
			if len(errs) == 0 {
				t.Fatalf("accepted")
			}
			if errs[0].Code != tc.code || errs[0].Pos != tc.pos {
				t.Fatalf("got %s, want %s at %d:%d", dump(errs[:1]), tc.code, tc.pos.Line, tc.pos.Column)
			}
		})
	}
}

// BenchmarkHostile measures each hostile input, and a real example for
// comparison; the bound is one second each.
func BenchmarkHostile(b *testing.B) {
	inputs := hostileInputs()
	for _, f := range []string{"bomb.yaml", "deep.yaml", "injection.yaml", "duplicate-key.yaml", "unknown-field.yaml", "non-utf8.yaml"} {
		inputs["fixture "+f] = struct {
			src  []byte
			code Code
			pos  Pos
		}{src: mustRead(b, repoRoot+"/testdata/specs/invalid/"+f)}
	}
	inputs["example arch-hyprland"] = struct {
		src  []byte
		code Code
		pos  Pos
	}{src: mustRead(b, repoRoot+"/examples/arch-hyprland.yaml")}
	for name, in := range inputs {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in.src)))
			for b.Loop() {
				_, benchDiags = Parse("h.yaml", in.src)
			}
		})
	}
}

// benchDiags keeps the benchmark's results alive, so Parse is not optimised away.
var benchDiags Diagnostics
