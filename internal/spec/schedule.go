package spec

import (
	"fmt"
	"strconv"
	"strings"
)

var (
	cronDays   = []string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}
	cronMonths = map[string]int{"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12}
	cronDayIdx = map[string]int{"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
)

// Calendar forms of the schedule keywords.
var (
	keywordCalendar = map[Schedule]string{"hourly": "hourly", "daily": "*-*-* 03:00:00", "weekly": "Sun *-*-* 04:00:00", "monthly": "*-*-01 05:00:00", "yearly": "*-01-01 06:00:00"}
	keywordCron     = map[Schedule]string{"hourly": "0 * * * *", "daily": "0 3 * * *", "weekly": "0 4 * * 0", "monthly": "0 5 1 * *", "yearly": "0 6 1 1 *"}
)

// Times returns the schedule as a systemd OnCalendar expression and as a
// five-field cron expression. Keywords run at quiet hours (daily at 03:00).
func (s Schedule) Times() (onCalendar, cron string, err error) {
	if cal, ok := keywordCalendar[s]; ok {
		return cal, keywordCron[s], nil
	}
	cal, err := cronToCalendar(string(s))
	if err != nil {
		return "", "", err
	}
	return cal, string(s), nil
}

// cronToCalendar converts a five-field cron expression to a systemd
// OnCalendar expression. It supports *, numbers, lists, ranges, steps, and
// month and day names. Cron runs a job when either day-of-month or
// day-of-week matches if both are restricted; systemd requires both, so that
// combination is refused rather than silently changed.
func cronToCalendar(expr string) (string, error) {
	f := strings.Fields(expr)
	if len(f) != 5 {
		return "", fmt.Errorf("cron expression %q: want 5 fields", expr)
	}
	minute, err := cronField(f[0], 0, 59, nil)
	if err != nil {
		return "", fmt.Errorf("cron minute: %w", err)
	}
	hour, err := cronField(f[1], 0, 23, nil)
	if err != nil {
		return "", fmt.Errorf("cron hour: %w", err)
	}
	dom, err := cronField(f[2], 1, 31, nil)
	if err != nil {
		return "", fmt.Errorf("cron day of month: %w", err)
	}
	month, err := cronField(f[3], 1, 12, cronMonths)
	if err != nil {
		return "", fmt.Errorf("cron month: %w", err)
	}
	if f[2] != "*" && f[4] != "*" {
		return "", fmt.Errorf("cron expression %q restricts both day of month and day of week, which systemd timers cannot express", expr)
	}
	cal := fmt.Sprintf("*-%s-%s %s:%s:00", month, dom, hour, minute)
	if f[4] != "*" {
		dow, err := cronDOW(f[4])
		if err != nil {
			return "", fmt.Errorf("cron day of week: %w", err)
		}
		cal = dow + " " + cal
	}
	return cal, nil
}

func cronValue(s string, lo, hi int, names map[string]int) (int, error) {
	if n, ok := names[strings.ToLower(s)]; ok {
		return n, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%q is not a value from %d to %d", s, lo, hi)
	}
	return n, nil
}

// cronField converts one numeric field: a,b → a,b; a-b → a..b; */n → lo/n;
// a-b/n → a..b/n is not systemd syntax, so it is expanded to a list.
func cronField(s string, lo, hi int, names map[string]int) (string, error) {
	var parts []string
	for _, item := range strings.Split(s, ",") {
		rng, stepS, hasStep := strings.Cut(item, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepS)
			if err != nil || n < 1 || n > hi {
				return "", fmt.Errorf("bad step %q", stepS)
			}
			step = n
		}
		var from, to int
		switch {
		case rng == "*":
			if !hasStep {
				if len(strings.Split(s, ",")) > 1 {
					return "", fmt.Errorf("* inside a list")
				}
				return "*", nil
			}
			parts = append(parts, fmt.Sprintf("%02d/%d", lo, step))
			continue
		case strings.Contains(rng, "-"):
			a, b, _ := strings.Cut(rng, "-")
			var err error
			if from, err = cronValue(a, lo, hi, names); err != nil {
				return "", err
			}
			if to, err = cronValue(b, lo, hi, names); err != nil {
				return "", err
			}
			if to < from {
				return "", fmt.Errorf("range %q ends before it starts", rng)
			}
		default:
			n, err := cronValue(rng, lo, hi, names)
			if err != nil {
				return "", err
			}
			if hasStep {
				parts = append(parts, fmt.Sprintf("%02d/%d", n, step))
				continue
			}
			parts = append(parts, fmt.Sprintf("%02d", n))
			continue
		}
		if step == 1 {
			parts = append(parts, fmt.Sprintf("%02d..%02d", from, to))
			continue
		}
		for v := from; v <= to; v += step {
			parts = append(parts, fmt.Sprintf("%02d", v))
		}
	}
	return strings.Join(parts, ","), nil
}

func cronDOW(s string) (string, error) {
	var parts []string
	for _, item := range strings.Split(s, ",") {
		if strings.Contains(item, "/") {
			return "", fmt.Errorf("steps in day of week are not supported")
		}
		if a, b, ok := strings.Cut(item, "-"); ok {
			x, err := cronValue(a, 0, 7, cronDayIdx)
			if err != nil {
				return "", err
			}
			y, err := cronValue(b, 0, 7, cronDayIdx)
			if err != nil {
				return "", err
			}
			if y < x {
				return "", fmt.Errorf("range %q ends before it starts", item)
			}
			parts = append(parts, cronDays[x]+".."+cronDays[y])
			continue
		}
		x, err := cronValue(item, 0, 7, cronDayIdx)
		if err != nil {
			return "", err
		}
		parts = append(parts, cronDays[x])
	}
	return strings.Join(parts, ","), nil
}
