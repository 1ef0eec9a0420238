package web

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// The page of a run that asked for no boot test says, at the boot-test
// step, that it was skipped on request; a boot-tested run's page does not.
func TestRunPageSaysNoBootTest(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB, _ *storetest.Clock) {
		s := newSite(t, db, false)
		s.fake.SetRepoVisibility("octo/public", false)
		ctx := context.Background()
		bootStep := regexp.MustCompile(`<li id="step-BOOT_TESTING"[^\n]*</li>`)
		for _, asked := range []bool{true, false} {
			r := s.addRun("octo/public", func(r *store.Run) { r.NoBootTest = asked })
			for _, st := range []run.State{run.Validating, run.Generating, run.Building, run.ISOGenerating, run.BootTesting} {
				if err := db.EnterStep(ctx, r.ID, st); err != nil {
					t.Fatal(err)
				}
			}
			if err := db.FinishWith(ctx, r.ID, run.Complete, "", nil); err != nil {
				t.Fatal(err)
			}
			code, body := s.get(fmt.Sprintf("/runs/%d", r.ID))
			if code != http.StatusOK {
				t.Fatalf("run page: %d\n%s", code, body)
			}
			li := bootStep.FindString(body)
			if !strings.Contains(li, `class="step step-done"`) {
				t.Fatalf("noBootTest %v: the boot-test step %q", asked, li)
			}
			if strings.Contains(li, "skipped on request") != asked || strings.Contains(body, noBootTestNote) != asked {
				t.Errorf("noBootTest %v: the boot-test step reads %q", asked, li)
			}
		}
	})
}
