package train

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/nextsample/nextsample/audio/regular"
)

// LogHeader is the header row of train_log.csv.
// The last column, val_raw_bits, is the validation of the raw weights of a
// run with a moving average (Options.EMA), whose val_bits are the
// average's; logs of older versions lack it.
var LogHeader = []string{"step", "seconds", "train_bits", "val_bits", "lr", "grad_norm", "samples_per_s", "val_raw_bits"}

// LogRow is one row of train_log.csv: one training step, or a validation
// at a step. The training fields of a validation-only row (step 0, before
// any update) are NaN and written empty, and so is ValBits on steps without
// a validation.
type LogRow struct {
	// Step is the number of updates done when the row was written.
	Step int64
	// Seconds is the wall time of the run so far, evaluations included,
	// summed over resumed sessions.
	Seconds float64
	// TrainBits is the step's training loss in bits per scored target.
	TrainBits float64
	// ValBits is the validation NLL in bits per sample of the run's
	// model (with Options.EMA, the average).
	ValBits float64
	// ValRawBits is, with Options.EMA, the validation NLL of the raw
	// weights (NaN otherwise, and on steps without a validation).
	ValRawBits float64
	// LR is the learning rate used by the step.
	LR float64
	// GradNorm is the gradient's global L2 norm before clipping.
	GradNorm float64
	// SamplesPerSecond is scored targets per second of the step alone.
	SamplesPerSecond float64
}

func fmtField(v float64, prec int) string {
	if math.IsNaN(v) {
		return ""
	}
	return strconv.FormatFloat(v, 'g', prec, 64)
}

func (r LogRow) record() []string {
	return []string{
		strconv.FormatInt(r.Step, 10),
		strconv.FormatFloat(r.Seconds, 'f', 3, 64),
		fmtField(r.TrainBits, 6),
		fmtField(r.ValBits, 6),
		fmtField(r.LR, 6),
		fmtField(r.GradNorm, 6),
		fmtField(r.SamplesPerSecond, 6),
		fmtField(r.ValRawBits, 6),
	}
}

// writeLog writes rows as CSV with LogHeader.
func writeLog(w io.Writer, rows []LogRow) error {
	c := csv.NewWriter(w)
	if err := c.Write(LogHeader); err != nil {
		return err
	}
	for _, r := range rows {
		if err := c.Write(r.record()); err != nil {
			return err
		}
	}
	c.Flush()
	return c.Error()
}

// readLog reads a train_log.csv written by writeLog.
// A named pipe or device at path is refused without blocking, with an
// error matching regular.ErrNotRegular.
func readLog(path string) ([]LogRow, error) {
	f, err := regular.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	recs, err := csv.NewReader(bufio.NewReader(f)).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	// Logs of older versions lack the last column.
	if len(recs) == 0 || len(recs[0]) < len(LogHeader)-1 || len(recs[0]) > len(LogHeader) || recs[0][0] != LogHeader[0] {
		return nil, fmt.Errorf("%s: not a training log (header %v)", path, LogHeader)
	}
	rows := make([]LogRow, 0, len(recs)-1)
	for i, rec := range recs[1:] {
		var r LogRow
		var err error
		num := func(s string) float64 {
			if s == "" || err != nil {
				return math.NaN()
			}
			var v float64
			v, err = strconv.ParseFloat(s, 64)
			return v
		}
		r.Step, err = strconv.ParseInt(rec[0], 10, 64)
		r.Seconds = num(rec[1])
		r.TrainBits = num(rec[2])
		r.ValBits = num(rec[3])
		r.LR = num(rec[4])
		r.GradNorm = num(rec[5])
		r.SamplesPerSecond = num(rec[6])
		r.ValRawBits = math.NaN()
		if len(rec) > 7 {
			r.ValRawBits = num(rec[7])
		}
		if err != nil {
			return nil, fmt.Errorf("%s: line %d: %w", path, i+2, err)
		}
		rows = append(rows, r)
	}
	return rows, nil
}
