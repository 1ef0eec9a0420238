package disk

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fakeBtrfsTool answers as btrfsScript does: it reads the file system's
// tar and the size line, says what the files take, then sends fs.img in a
// tar whose end is padded to a whole record by a separate last write, as
// GNU tar's final record reaches a pipe after the end marker. trailing
// adds that many bytes after the padding; fail makes it exit non-zero
// after it has sent the image.
type fakeBtrfsTool struct {
	trailing int
	fail     bool
}

func (f fakeBtrfsTool) RunTool(_ context.Context, _ string, _ []string, stdin io.Reader, stdout io.Writer, _ func(string)) error {
	br := bufio.NewReader(stdin)
	tr := tar.NewReader(br)
	for {
		if _, err := tr.Next(); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return fmt.Errorf("read the files: %w", err)
		}
	}
	if _, err := io.WriteString(stdout, "used 4096\n"); err != nil {
		return err
	}
	// The zero padding to the record, then the size line.
	line, err := br.ReadString('\n')
	if err != nil {
		return fmt.Errorf("read the size: %w", err)
	}
	size, err := strconv.ParseInt(strings.TrimLeft(line[:len(line)-1], "\x00"), 10, 64)
	if err != nil {
		return fmt.Errorf("parse the size %q: %w", line, err)
	}
	var img bytes.Buffer
	tw := tar.NewWriter(&img)
	if err := tw.WriteHeader(&tar.Header{Name: "fs.img", Mode: 0o644, Size: size, Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	if _, err := tw.Write(bytes.Repeat([]byte{0xb7}, int(size))); err != nil {
		return err
	}
	if err := tw.Close(); err != nil { // the end marker: two zero blocks
		return err
	}
	if _, err := stdout.Write(img.Bytes()); err != nil {
		return fmt.Errorf("write the image: %w", err)
	}
	pad := tarRecord - img.Len()%tarRecord
	if _, err := stdout.Write(make([]byte, pad+f.trailing)); err != nil {
		return fmt.Errorf("write the record's padding: %w", err)
	}
	if f.fail {
		return errors.New("exit status 1: mkfs.btrfs: out of space")
	}
	return nil
}

// runFakeBtrfs makes one file system through startBtrfs, stream and
// finish with the fake tool.
func runFakeBtrfs(t *testing.T, tool fakeBtrfsTool, size int64) (fileSystem, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fs := fileSystem{kind: fsBtrfs, mount: "srv", img: filepath.Join(t.TempDir(), "srv.img")}
	fs.job = startBtrfs(ctx, tool, fs, func(string) {})
	var files bytes.Buffer
	tw := tar.NewWriter(&files)
	if err := tw.WriteHeader(&tar.Header{Name: "srv/", Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	used, err := fs.job.stream(ctx, &files)
	if err != nil {
		fs.job.stop()
		return fs, err
	}
	if used != 4096 {
		t.Errorf("used = %d, want the tool's 4096", used)
	}
	return fs, fs.job.finish(size)
}

// The tool's last write is tar's record padding, after the end marker the
// reader stops at: a reader that closed its end there failed a finished
// image ("the tool: read the tool's output: the disk step stopped
// reading", CI of 42ccc24, the /srv btrfs of TestBtrfsDiskBootsWithItsSubvolumes).
func TestBtrfsJobReadsTheToolsPaddingAfterItsImage(t *testing.T) {
	const size = 64 << 10
	fs, err := runFakeBtrfs(t, fakeBtrfsTool{}, size)
	if err != nil {
		t.Fatalf("the job failed on the tool's padding: %v", err)
	}
	got, err := os.ReadFile(fs.img)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, bytes.Repeat([]byte{0xb7}, size)) {
		t.Errorf("the image is %d bytes, not the tool's %d", len(got), size)
	}
}

// More than a record after the image is not tar's padding: refused, and
// the reader's refusal is the error (not the tool's broken pipe).
func TestBtrfsJobRefusesOutputAfterThePadding(t *testing.T) {
	_, err := runFakeBtrfs(t, fakeBtrfsTool{trailing: 2 * tarRecord}, 16<<10)
	if err == nil || !strings.Contains(err.Error(), "more than a tar record after its image") {
		t.Fatalf("err = %v, want the refusal of what follows the image", err)
	}
}

// A tool that fails after sending its image fails the job with its own
// error.
func TestBtrfsJobFailsWithTheToolsError(t *testing.T) {
	_, err := runFakeBtrfs(t, fakeBtrfsTool{fail: true}, 16<<10)
	if err == nil || !strings.Contains(err.Error(), "out of space") {
		t.Fatalf("err = %v, want the tool's failure", err)
	}
}
