package disk

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
)

// Tools runs the file system tools the bot has no writer of its own for
// (mkfs.btrfs --rootdir) in a sandbox: a container of the bot's tools
// image with no network and few powers (docker.Engine.RunTool). The
// image's files are unpacked there, never on the host; what comes back is
// one file system image, read as data.
type Tools interface {
	RunTool(ctx context.Context, script string, args []string, stdin io.Reader, stdout io.Writer, log func(string)) error
}

// btrfsScript makes a btrfs file system of the tar on its standard input.
// The exchange on its standard input and output:
//
//  1. in: the file system's tar (the rewriter's, through the splitter),
//     padded with zeros to whole 10 KiB records (tar's own, so that tar
//     reads no further than the archive);
//  2. out: "used BYTES", what the unpacked files take;
//  3. in: the file system's size in bytes, a line (the disk's layout
//     needs 2 first);
//  4. out: a tar (GNU sparse) of one file, fs.img, of that size.
//
// $1 label, $2 UUID, $3 compression (zstd, lzo, zlib or ""), $4 layout:
// "subvolumes" puts the files in subvolume @ and /home's in @home,
// "snapshots" adds @snapshots (mounted at /.snapshots), "flat" none.
// Every tool's own output goes to standard error, the exchange's only to
// standard output.
const btrfsScript = `set -eu
label=$1 uuid=$2 compress=$3 layout=$4
mkdir -p /w/r
top=/w/r
case $layout in
flat) ;;
subvolumes|snapshots) top=/w/r/@; mkdir -m 0755 "$top" ;;
*) echo "unknown layout $layout" >&2; exit 2 ;;
esac
tar -x -f - -C "$top" --numeric-owner --same-owner --same-permissions --xattrs --xattrs-include='*' >&2
set -- --subvol rw:@
case $layout in
flat) set -- ;;
*)
	if [ -L "$top/home" ] || { [ -e "$top/home" ] && [ ! -d "$top/home" ]; }; then
		echo "the image's /home is not a directory: it cannot be the @home subvolume" >&2
		exit 3
	fi
	[ -d "$top/home" ] || mkdir -m 0755 "$top/home"
	mv "$top/home" /w/r/@home
	mkdir "$top/home"
	chmod --reference=/w/r/@home "$top/home"
	chown --reference=/w/r/@home "$top/home"
	set -- "$@" --subvol rw:@home
	if [ "$layout" = snapshots ]; then
		mkdir -m 0750 /w/r/@snapshots
		[ -d "$top/.snapshots" ] || mkdir -m 0750 "$top/.snapshots"
		set -- "$@" --subvol rw:@snapshots
	fi ;;
esac
printf 'used %s\n' "$(du -sx --block-size=1 /w/r | cut -f1)"
IFS= read -r size
case $size in
''|*[!0-9]*) echo "no size given: [$size]" >&2; exit 4 ;;
esac
truncate -s "$size" /w/fs.img
mkfs.btrfs -f -L "$label" -U "$uuid" -b "$size" --rootdir /w/r ${compress:+--compress "$compress"} "$@" /w/fs.img >&2
exec tar --sparse -C /w -cf - fs.img
`

// tarRecord is GNU tar's record when it reads a pipe (20 blocks of 512).
const tarRecord = 10240

// btrfsJob is one btrfs file system made by the tools: started when the
// disk step starts streaming the image, fed its tar (stream), then told
// its size once the disk is laid out (finish).
type btrfsJob struct {
	fs   fileSystem
	in   *io.PipeWriter
	used chan int64 // the tool's "used" line
	size chan int64 // finish's size, for the reader
	done chan struct{}
	err  error // the tool's and the output's, once done is closed
	once sync.Once
}

// btrfsLayout is the script's layout word for fs.
func btrfsLayout(fs fileSystem) string {
	switch {
	case fs.mount != "":
		return "flat"
	case fs.snapshots:
		return "snapshots"
	default:
		return "subvolumes"
	}
}

// startBtrfs starts the tool that makes fs into fs.img.
func startBtrfs(ctx context.Context, tools Tools, fs fileSystem, log func(string)) *btrfsJob {
	j := &btrfsJob{fs: fs, used: make(chan int64, 1), size: make(chan int64, 1), done: make(chan struct{})}
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	j.in = inW
	ran := make(chan error, 1)
	go func() {
		err := tools.RunTool(ctx, btrfsScript, []string{fs.label(), strings.ToLower(fs.uuid.String()), fs.compression, btrfsLayout(fs)}, inR, outW, log)
		if err != nil {
			err = fmt.Errorf("%s (btrfs): the tool: %w", fs.what(), err)
		}
		outW.CloseWithError(err) // nil: the output's EOF
		inR.CloseWithError(errors.New("the file system tool stopped reading"))
		ran <- err
	}()
	go func() {
		err := j.read(outR)
		outR.CloseWithError(errors.New("the disk step stopped reading"))
		// The tool's failure is the cause, unless the reader refused
		// what it sent first: the tool's error is then only the closed
		// output (a failed tool closes the output with its error, so
		// the reader's error says it too).
		if runErr := <-ran; runErr != nil && err == nil {
			err = runErr
		}
		j.err = err
		close(j.done)
	}()
	return j
}

// read reads the tool's output: the used line, then the image.
func (j *btrfsJob) read(out io.Reader) error {
	br := bufio.NewReaderSize(out, 64<<10)
	line, err := readLine(br, 64)
	if err != nil {
		return fmt.Errorf("%s (btrfs): the tool's first line: %w", j.fs.what(), err)
	}
	n, err := strconv.ParseInt(strings.TrimPrefix(line, "used "), 10, 64)
	if !strings.HasPrefix(line, "used ") || err != nil || n < 0 {
		return fmt.Errorf("%s (btrfs): the tool said %q, not what its files take", j.fs.what(), clip(line, 64))
	}
	j.used <- n
	tr := tar.NewReader(br)
	hdr, err := tr.Next()
	if err != nil {
		return fmt.Errorf("%s (btrfs): the tool's image: %w", j.fs.what(), err)
	}
	size := <-j.size // sent before the tool could make the image
	if hdr.Name != "fs.img" || (hdr.Typeflag != tar.TypeReg && hdr.Typeflag != tar.TypeGNUSparse) || hdr.Size != size {
		return fmt.Errorf("%s (btrfs): the tool sent %q (type %c) of %d bytes, not fs.img of %d", j.fs.what(), clip(hdr.Name, 64), hdr.Typeflag, hdr.Size, size)
	}
	img, err := os.OpenFile(j.fs.img, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("%s (btrfs): %w", j.fs.what(), err)
	}
	defer img.Close()
	if err := img.Truncate(size); err != nil {
		return fmt.Errorf("%s (btrfs): %w", j.fs.what(), err)
	}
	if err := copyReaderInto(img, 0, tr); err != nil {
		return fmt.Errorf("%s (btrfs): the tool's image: %w", j.fs.what(), err)
	}
	if err := img.Close(); err != nil {
		return fmt.Errorf("%s (btrfs): %w", j.fs.what(), err)
	}
	if _, err := tr.Next(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s (btrfs): the tool sent more than fs.img (%v)", j.fs.what(), err)
	}
	// tar pads its archive to a whole record after the end marker: read
	// to the output's end (a record at most) so that the tool's last
	// writes are not refused, which would fail a finished image.
	rest, err := io.Copy(io.Discard, io.LimitReader(br, tarRecord+1))
	switch {
	case err != nil:
		return fmt.Errorf("%s (btrfs): the tool's output after its image: %w", j.fs.what(), err)
	case rest > tarRecord:
		return fmt.Errorf("%s (btrfs): the tool sent more than a tar record after its image", j.fs.what())
	}
	return nil
}

// readLine reads one line of at most max bytes, without its newline.
func readLine(br *bufio.Reader, max int) (string, error) {
	var b []byte
	for len(b) <= max {
		c, err := br.ReadByte()
		if err != nil {
			return "", err
		}
		if c == '\n' {
			return string(b), nil
		}
		b = append(b, c)
	}
	return "", fmt.Errorf("a line over %d bytes", max)
}

// stream feeds the file system's tar to the tool and returns what its
// files take, once unpacked.
func (j *btrfsJob) stream(ctx context.Context, r io.Reader) (int64, error) {
	n, err := io.Copy(j.in, r)
	if err == nil && n%tarRecord != 0 {
		_, err = j.in.Write(make([]byte, tarRecord-n%tarRecord))
	}
	if err != nil {
		j.abort()
		<-j.done
		if j.err != nil {
			return 0, j.err
		}
		return 0, fmt.Errorf("%s (btrfs): feed the tool: %w", j.fs.what(), err)
	}
	select {
	case used := <-j.used:
		return used, nil
	case <-j.done:
		if j.err == nil {
			return 0, fmt.Errorf("%s (btrfs): the tool ended before it said what its files take", j.fs.what())
		}
		return 0, j.err
	case <-ctx.Done():
		j.abort()
		return 0, ctx.Err()
	}
}

// finish sends the file system's size and waits for its image.
func (j *btrfsJob) finish(size int64) error {
	j.size <- size
	if _, err := fmt.Fprintf(j.in, "%d\n", size); err != nil {
		j.abort()
		<-j.done
		if j.err != nil {
			return j.err
		}
		return fmt.Errorf("%s (btrfs): send the size: %w", j.fs.what(), err)
	}
	j.in.Close()
	<-j.done
	return j.err
}

// abort ends the tool's input: a tool still reading it fails.
func (j *btrfsJob) abort() {
	j.once.Do(func() { j.in.CloseWithError(errors.New("the disk step stopped")) })
}

// stop aborts the job and waits for its tool to end: the work directory
// may go after it.
func (j *btrfsJob) stop() {
	j.abort()
	<-j.done
}
