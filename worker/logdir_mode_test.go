package worker

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"
	"time"
)

// TestDefaultLogDirModeInFull: the refusal of a default log_dir that
// others can write shows its mode in full octal, the sticky, setgid and
// setuid bits included, as ls and chmod write it; the error is a
// *LogDirError whose message for a program names Config.LogDir, and
// which can name the setting otherwise (drover worker: log_dir).
func TestDefaultLogDirModeInFull(t *testing.T) {
	for _, tc := range []struct {
		mode fs.FileMode
		want string
	}{
		{fs.ModeSticky | 0o703, "(mode 1703)"},
		{fs.ModeSetgid | 0o770, "(mode 2770)"},
		{fs.ModeSticky | fs.ModeSetgid | 0o777, "(mode 3777)"},
		{0o722, "(mode 0722)"},
	} {
		w, dir := defaultLogDirWorker(t, time.Hour)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, tc.mode); err != nil {
			t.Fatal(err)
		}
		if info, err := os.Lstat(dir); err != nil || info.Mode()&(fs.ModePerm|fs.ModeSticky|fs.ModeSetgid) != tc.mode {
			t.Skipf("chmod %v gave %v (%v): the file system keeps other bits", tc.mode, info.Mode(), err)
		}
		err := w.Start()
		if err == nil {
			shutdown(t, w)
			t.Fatalf("mode %v: Start succeeded; want it refused", tc.mode)
		}
		if !strings.Contains(err.Error(), "users other than its owner can write to it "+tc.want) ||
			!strings.Contains(err.Error(), "Config.LogDir") {
			t.Errorf("mode %v: %v; want it to say %s and name Config.LogDir", tc.mode, err, tc.want)
		}
		var le *LogDirError
		if !errors.As(err, &le) {
			t.Fatalf("mode %v: %T is not a *LogDirError", tc.mode, err)
		}
		msg := le.Message("log_dir")
		if !strings.Contains(msg, tc.want) || !strings.Contains(msg, "or set log_dir to a directory of your choice") ||
			strings.Contains(msg, "Config.") {
			t.Errorf("mode %v: Message(log_dir) %q; want the mode and log_dir, no Go field", tc.mode, msg)
		}
	}
}
