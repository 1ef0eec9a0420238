package spec

import "testing"

func TestScheduleTimes(t *testing.T) {
	tests := []struct {
		in, cal, cron string
		wantErr       bool
	}{
		{in: "daily", cal: "*-*-* 03:00:00", cron: "0 3 * * *"},
		{in: "hourly", cal: "hourly", cron: "0 * * * *"},
		{in: "30 2 * * *", cal: "*-*-* 02:30:00", cron: "30 2 * * *"},
		{in: "*/15 * * * *", cal: "*-*-* *:00/15:00", cron: "*/15 * * * *"},
		{in: "0 9-17 * * 1-5", cal: "Mon..Fri *-*-* 09..17:00:00", cron: "0 9-17 * * 1-5"},
		{in: "0 0 1,15 * *", cal: "*-*-01,15 00:00:00", cron: "0 0 1,15 * *"},
		{in: "0 6 * jan,jul sun", cal: "Sun *-01,07-* 06:00:00", cron: "0 6 * jan,jul sun"},
		{in: "0 0-12/4 * * *", cal: "*-*-* 00,04,08,12:00:00", cron: "0 0-12/4 * * *"},
		{in: "0 0 * * 7", cal: "Sun *-*-* 00:00:00", cron: "0 0 * * 7"},
		{in: "61 * * * *", wantErr: true},
		{in: "0 0 1 * 1", wantErr: true},
		{in: "0 0 * * mon/2", wantErr: true},
		{in: "5-1 * * * *", wantErr: true},
		{in: "0 0 * *", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			cal, cron, err := Schedule(tc.in).Times()
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if !tc.wantErr && (cal != tc.cal || cron != tc.cron) {
				t.Fatalf("got %q %q, want %q %q", cal, cron, tc.cal, tc.cron)
			}
		})
	}
}
