package bench

import (
	"cmp"
	"fmt"
	"io"
	"strings"

	"github.com/nextsample/nextsample/causalconv/kernels"
)

// WriteHeader writes the diagnostic lines `nextsample bench` prints on
// stderr before its measurements, each starting with "#": the options,
// the machine (kernels.DetectMachine: what kind of CPU the numbers come
// from, as the kernels' speed depends on it) and each variant's model:
//
//	# nextsample bench kernels=avx512 precision=fp32 threads=2 statistic=best config=built-in (reference config.json)
//	# machine: GenuineIntel family 6 model 207 (full-width AVX-512; bf16 dot products at half the fp32 FMA rate)
//	# variant skip256: receptive_field=2047 fwd_gemm_flops_per_timestep=808960 train_flops_per_timestep=2410496
//
// o is as Config.Resolve returns it; a Config parsed from bytes (no Path)
// is named the built-in one.
func WriteHeader(w io.Writer, c *Config, o Options) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# nextsample bench kernels=%s precision=%s threads=%d statistic=%s config=%s\n",
		o.Kernels.Name, o.Precision, o.Threads, o.Statistic, cmp.Or(c.Path, "built-in (reference config.json)"))
	fmt.Fprintf(&b, "# machine: %s\n", kernels.DetectMachine())
	for _, v := range c.Variants {
		f := v.Model.FLOPs()
		fmt.Fprintf(&b, "# variant %s: receptive_field=%d fwd_gemm_flops_per_timestep=%d train_flops_per_timestep=%d\n",
			v.Name, v.Model.ReceptiveField(), f.Forward(), f.Train())
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Report is a measurement as `nextsample bench` reports it: the Result,
// with the peak RSS of the process that ran it, and, once a Reference
// has compared it, the reference's figures and ours over theirs. Its JSON
// form is the Result's keys followed by these.
type Report struct {
	Result

	// The reference's figures (PyTorch float32) and ours / theirs.
	RefSamplesPerS float64 `json:"ref_samples_per_s,omitempty"`
	RefGFLOPs      float64 `json:"ref_gflops,omitempty"`
	RefRSSMiB      float64 `json:"ref_rss_mib,omitempty"`
	Ratio          float64 `json:"ratio,omitempty"`

	// For train_ measurements: PyTorch's bf16 autocast (torch_bf16.py)
	// and ours / it.
	RefBF16SamplesPerS float64 `json:"ref_bf16_samples_per_s,omitempty"`
	RefBF16GFLOPs      float64 `json:"ref_bf16_gflops,omitempty"`
	RefBF16RSSMiB      float64 `json:"ref_bf16_rss_mib,omitempty"`
	RatioBF16          float64 `json:"ratio_bf16,omitempty"`
	// BestRatio is ours over the faster of the PyTorch modes measured
	// (fp32 alone for generation), RefBest that mode: "fp32" or "bf16".
	BestRatio float64 `json:"best_ratio,omitempty"`
	RefBest   string  `json:"ref_best,omitempty"`
}

// WriteCSV writes r as a line of the CSV report. Without reference
// columns (withReference false) the line is name,samples_per_s,gflops, as
// the reference's own report has it; with them it is
//
//	name,samples_per_s,gflops,ref_samples_per_s,ref_gflops,ratio,rss_mib,ref_rss_mib,
//	ref_bf16_samples_per_s,ref_bf16_gflops,ratio_bf16,best_ratio,ref_bf16_rss_mib
//
// where the reference's columns stay empty for a measurement it does not
// have, and the bf16 ones where PyTorch's bf16 autocast did not run.
func (r Report) WriteCSV(w io.Writer, withReference bool) error {
	var err error
	switch {
	case !withReference:
		_, err = fmt.Fprintf(w, "%s,%.2f,%.3f\n", r.Name, r.SamplesPerS, r.GFLOPs)
	case r.RefSamplesPerS == 0:
		_, err = fmt.Fprintf(w, "%s,%.2f,%.3f,,,,%.1f,,,,,,\n", r.Name, r.SamplesPerS, r.GFLOPs, r.RSSMiB)
	default:
		bf16, bf16RSS := ",,", ""
		if r.RefBF16SamplesPerS > 0 {
			bf16 = fmt.Sprintf("%.2f,%.3f,%.3f", r.RefBF16SamplesPerS, r.RefBF16GFLOPs, r.RatioBF16)
			bf16RSS = fmt.Sprintf("%.1f", r.RefBF16RSSMiB)
		}
		_, err = fmt.Fprintf(w, "%s,%.2f,%.3f,%.2f,%.3f,%.3f,%.1f,%.1f,%s,%.3f,%s\n", r.Name, r.SamplesPerS, r.GFLOPs,
			r.RefSamplesPerS, r.RefGFLOPs, r.Ratio, r.RSSMiB, r.RefRSSMiB, bf16, r.BestRatio, bf16RSS)
	}
	return err
}

// setReferences records the PyTorch figures (fp32, and bf16 autocast if it
// ran) and ours over each, and over the faster ("best mode").
func (r *Report) setReferences(fp32 Result, bf16 *Result) {
	r.RefSamplesPerS, r.RefGFLOPs, r.RefRSSMiB = fp32.SamplesPerS, fp32.GFLOPs, fp32.RSSMiB
	if fp32.SamplesPerS > 0 {
		r.Ratio = r.SamplesPerS / fp32.SamplesPerS
		r.BestRatio, r.RefBest = r.Ratio, "fp32"
	}
	if bf16 == nil {
		return
	}
	r.RefBF16SamplesPerS, r.RefBF16GFLOPs, r.RefBF16RSSMiB = bf16.SamplesPerS, bf16.GFLOPs, bf16.RSSMiB
	if bf16.SamplesPerS > 0 {
		r.RatioBF16 = r.SamplesPerS / bf16.SamplesPerS
		if bf16.SamplesPerS > fp32.SamplesPerS {
			r.BestRatio, r.RefBest = r.RatioBF16, "bf16"
		}
	}
}

// writeComparison writes on w how r compares with the reference and, if
// it ran (withBF16), PyTorch's bf16 autocast: a # line each.
func (r *Report) writeComparison(w io.Writer, withBF16 bool) {
	ours := "ours"
	if r.Precision != "" {
		ours += " (" + r.Precision + ")"
	}
	fmt.Fprintf(w, "# %s: %s %.1f samples/s (%.1f GFLOP/s, %.0f MiB peak RSS), reference %.1f (%.1f GFLOP/s, %.0f MiB): %.2fx\n",
		r.Name, ours, r.SamplesPerS, r.GFLOPs, r.RSSMiB, r.RefSamplesPerS, r.RefGFLOPs, r.RefRSSMiB, r.Ratio)
	if withBF16 {
		fmt.Fprintf(w, "# %s: PyTorch fp32 %.1f samples/s, bf16 autocast %.1f (%.1f GFLOP/s, %.0f MiB): %s %.2fx fp32, %.2fx bf16, best mode (%s) %.2fx\n",
			r.Name, r.RefSamplesPerS, r.RefBF16SamplesPerS, r.RefBF16GFLOPs, r.RefBF16RSSMiB, ours, r.Ratio, r.RatioBF16, r.RefBest, r.BestRatio)
	}
}
