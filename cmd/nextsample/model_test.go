package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nextsample/nextsample/causalconv"
	"github.com/nextsample/nextsample/causalconv/modelfile"
	"github.com/nextsample/nextsample/train"
)

// trainTinyRun trains the tiny model for 2 steps (validating at step 2)
// and returns the run directory.
func trainTinyRun(t *testing.T) string {
	t.Helper()
	manifest, config := writeTinyCorpus(t)
	out := filepath.Join(t.TempDir(), "run")
	code, stdout, stderr := runTrainCLI(t, "train", "--data", manifest, "--config", config, "--out", out,
		"--optimizer", "adam", "--lr", "0.01", "--steps", "2", "--batch", "3", "--crop", "200", "--eval-every", "2", "--threads", "2")
	if code != 0 {
		t.Fatalf("train exited %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	return out
}

// modelJSON runs `model --json` on paths and decodes its lines.
func modelJSON(t *testing.T, paths ...string) []train.ModelInfo {
	t.Helper()
	code, stdout, stderr := runTrainCLI(t, append([]string{"model", "--json"}, paths...)...)
	if code != 0 {
		t.Fatalf("model --json exited %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if len(lines) != len(paths) {
		t.Fatalf("model --json printed %d lines for %d files:\n%s", len(lines), len(paths), stdout)
	}
	out := make([]train.ModelInfo, len(lines))
	for i, l := range lines {
		if err := json.Unmarshal([]byte(l), &out[i]); err != nil {
			t.Fatalf("line %d: %v\n%s", i+1, err, l)
		}
	}
	return out
}

func TestModelTrainedRun(t *testing.T) {
	out := trainTinyRun(t)
	last, best := filepath.Join(out, train.LastFile), filepath.Join(out, train.BestFile)
	mf, err := modelfile.Load(last)
	if err != nil {
		t.Fatal(err)
	}
	params := mf.Model.NumParams()
	rf := mf.Model.Config.ReceptiveField()
	if rf != 8 {
		t.Fatalf("tiny model's receptive field is %d, the test expects 8", rf)
	}
	infos := modelJSON(t, last, best)
	for _, mi := range infos {
		if mi.Parameters != params || mi.ReceptiveField != rf || mi.Layers != 3 {
			t.Errorf("%s: parameters %d, receptive field %d, layers %d; want %d, %d, 3", mi.Path, mi.Parameters, mi.ReceptiveField, mi.Layers, params, rf)
		}
		if mi.SampleRate == nil || *mi.SampleRate != 8000 || mi.Audio == nil || mi.Audio.SampleRate != 8000 || mi.AudioAssumed != "" {
			t.Errorf("%s: sample rate %v, audio %+v, assumed %q; want 8000 from the file", mi.Path, mi.SampleRate, mi.Audio, mi.AudioAssumed)
		}
		if mi.ReceptiveFieldMS == nil || *mi.ReceptiveFieldMS != 1 {
			t.Errorf("%s: receptive field %v ms, want 1", mi.Path, mi.ReceptiveFieldMS)
		}
		if want := float64(mf.Model.Config.FLOPs().Train()) / 1e6; mi.MFLOPPerSample != want {
			t.Errorf("%s: %g MFLOP per sample, want %g", mi.Path, mi.MFLOPPerSample, want)
		}
		if mi.InputEncoding != causalconv.InputOneHot {
			t.Errorf("%s: input encoding %q", mi.Path, mi.InputEncoding)
		}
		var cfg causalconv.Config
		if err := json.Unmarshal(mi.Config, &cfg); err != nil || !cfg.Equal(mf.Model.Config) {
			t.Errorf("%s: config %s (%v), want the model's", mi.Path, mi.Config, err)
		}
		if mi.Speakers != nil || mi.SpeakerCount != 0 {
			t.Errorf("%s: speakers %v", mi.Path, mi.Speakers)
		}
		if mi.TrainData == nil || !strings.HasSuffix(mi.TrainData.Data, "manifest.csv") {
			t.Errorf("%s: train_data %+v", mi.Path, mi.TrainData)
		}
		if mi.Step == nil || *mi.Step != 2 {
			t.Errorf("%s: step %v, want 2", mi.Path, mi.Step)
		}
		st, err := os.Stat(mi.Path)
		if err != nil {
			t.Fatal(err)
		}
		if mi.SizeBytes != st.Size() {
			t.Errorf("%s: size %d, the file has %d bytes", mi.Path, mi.SizeBytes, st.Size())
		}
		if mi.ParameterBytes != int64(4*params) {
			t.Errorf("%s: parameter bytes %d, want %d", mi.Path, mi.ParameterBytes, 4*params)
		}
	}

	l := infos[0]
	if l.Kind != "checkpoint" || !l.Resumable || l.ResumeProblem != "" {
		t.Errorf("last: kind %q, resumable %v (%s); want a resumable checkpoint", l.Kind, l.Resumable, l.ResumeProblem)
	}
	// Adam: exp_avg and exp_avg_sq of every parameter tensor.
	if want := 2 * len(mf.Model.Tensors()); l.OptimizerTensors != want || l.OptimizerBytes != int64(8*params) {
		t.Errorf("last: %d optimizer tensors of %d bytes, want %d of %d", l.OptimizerTensors, l.OptimizerBytes, want, 8*params)
	}
	if tr := l.Training; tr == nil {
		t.Error("last: no training summary")
	} else {
		if tr.Step != 2 || tr.Updates != 2 || tr.Options.Optimizer != train.Adam || tr.Options.LR != 0.01 || tr.Options.Batch != 3 || tr.Options.Crop != 200 ||
			tr.Options.Steps != 2 || tr.Options.Seed != 1 || tr.Options.Precision != causalconv.PrecisionFP32 {
			t.Errorf("last: training %+v", tr)
		}
		if tr.BestValBits == nil || tr.BestStep != 2 || tr.LastValBits == nil || tr.TrainFiles != 9 || tr.TrainSamples <= 0 || tr.Ranks != 1 {
			t.Errorf("last: training %+v", tr)
		}
	}
	if l.Best != nil {
		t.Errorf("last: best %+v", l.Best)
	}

	b := infos[1]
	if b.Kind != "best" || b.Resumable || b.OptimizerTensors != 0 || b.Training != nil {
		t.Errorf("best: kind %q, resumable %v, %d optimizer tensors, training %+v", b.Kind, b.Resumable, b.OptimizerTensors, b.Training)
	}
	if b.Best == nil || b.Best.Step != 2 || l.Training == nil || l.Training.BestValBits == nil || b.Best.ValBits != *l.Training.BestValBits {
		t.Errorf("best: %+v, want step 2 and the checkpoint's best bits", b.Best)
	}

	// The text form of both, separated by a blank line.
	code, stdout, stderr := runTrainCLI(t, "model", last, best)
	if code != 0 {
		t.Fatalf("model exited %d: %s", code, stderr)
	}
	t.Logf("model %s %s:\n%s", last, best, stdout)
	for _, want := range []string{
		"File       : " + last + " (training checkpoint)",
		fmt.Sprintf("Model      : 3 layers, receptive field 8 samples (1.0 ms at 8000 Hz), %d parameters", params),
		"Input      : onehot",
		"Config     : quantization_channels 256, input_encoding onehot, input_kernel_size 1, residual_channels 4, dilation_channels 4, skip_channels 8, end_channels 8, kernel_size 2, dilations [1,2,4], bias true, residual_on_last_layer false",
		"Audio      : 8000 Hz, channels averaged",
		"Speakers   : none (unconditioned)",
		"Training   : step 2 of 2, 2 updates",
		"Optimizer  : adam, lr 0.01, betas (0.9, 0.999), eps 1e-08",
		"Settings   : 3 files × ≤200 samples, chunk 4096, fp32, seed 1",
		"Validation : best ",
		"Train set  : 9 files",
		"Resumable  : yes",
		"\n\nFile       : " + best + " (best model of a training run)",
		"Best       : ",
		"at step 2\n",
		"Resumable  : no (no training state",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("text output lacks %q", want)
		}
	}
	if strings.Count(stdout, "Data       : ") != 2 {
		t.Errorf("text output should give the training data of both files:\n%s", stdout)
	}
}

// TestModelErrors: a file that cannot be read is one line on stderr, the
// others are still described, and the exit status is 1.
func TestModelErrors(t *testing.T) {
	dir := t.TempDir()
	good := writeSpeakerModel(t, dir, nil)
	corrupt := filepath.Join(dir, "corrupt.safetensors")
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(corrupt, data[:len(data)-10], 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.safetensors")
	for _, args := range [][]string{{"model", corrupt, good, missing}, {"model", "--json", corrupt, good, missing}} {
		code, stdout, stderr := runTrainCLI(t, args...)
		if code != 1 {
			t.Errorf("%v: exit %d, want 1", args, code)
		}
		lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "nextsample: "+corrupt+": ") || lines[1] != "nextsample: "+missing+": no such file or directory" {
			t.Errorf("%v: stderr should be one line per bad file:\n%s", args, stderr)
		}
		if strings.Count(stdout, good) != 1 {
			t.Errorf("%v: the good file is not described once:\n%s", args, stdout)
		}
	}
	// A directory, and a file that is not a model.
	wav := filepath.Join(dir, "x.safetensors")
	if err := os.WriteFile(wav, []byte("RIFF....WAVEfmt "), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runTrainCLI(t, "model", dir, wav)
	if code != 1 || strings.Count(stderr, "\n") != 2 || !strings.Contains(stderr, "nextsample: "+dir+": is a directory") || !strings.Contains(stderr, "nextsample: "+wav+": ") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
	if code, _, stderr := runTrainCLI(t, "model"); code != 1 || !strings.Contains(stderr, "no files given") {
		t.Errorf("no arguments: exit %d, stderr %s", code, stderr)
	}
}

// writeSpeakerModel writes a model file with "audio" metadata and, when
// speakers is not nil, a "speakers" list, as a speaker-conditioned run
// would, and returns its path.
func writeSpeakerModel(t *testing.T, dir string, speakers []string) string {
	t.Helper()
	cf, err := causalconv.ParseConfig([]byte(tinyModel))
	if err != nil {
		t.Fatal(err)
	}
	m, err := causalconv.NewRandom(cf.Model, 3)
	if err != nil {
		t.Fatal(err)
	}
	am, err := modelfile.AudioMeta(modelfile.ReferenceSettings(16000, 256))
	if err != nil {
		t.Fatal(err)
	}
	meta := map[string]string{modelfile.KeyAudio: am}
	name := "plain.safetensors"
	if speakers != nil {
		b, err := json.Marshal(speakers)
		if err != nil {
			t.Fatal(err)
		}
		meta[modelfile.KeySpeakers] = string(b)
		name = fmt.Sprintf("speakers%d.safetensors", len(speakers))
	}
	path := filepath.Join(dir, name)
	if err := modelfile.SaveFile(path, m, meta, nil); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestModelSpeakers(t *testing.T) {
	dir := t.TempDir()
	few := writeSpeakerModel(t, dir, []string{"george", "jackson", "lucas"})
	var names []string
	for i := range 25 {
		names = append(names, fmt.Sprintf("spk%02d", i))
	}
	many := writeSpeakerModel(t, dir, names)
	plain := writeSpeakerModel(t, dir, nil)

	infos := modelJSON(t, few, many, plain)
	if got := infos[0]; got.SpeakerCount != 3 || strings.Join(got.Speakers, ",") != "george,jackson,lucas" {
		t.Errorf("few: %d speakers %v", got.SpeakerCount, got.Speakers)
	}
	if got := infos[0]; !strings.Contains(got.SpeakerNote, "not conditioned") {
		t.Errorf("few: the model has no global_condition, but the note is %q", got.SpeakerNote)
	}
	if got := infos[1]; got.SpeakerCount != 25 || len(got.Speakers) != 25 {
		t.Errorf("many: %d speakers %v; JSON lists all", got.SpeakerCount, got.Speakers)
	}
	for _, mi := range infos {
		if mi.Kind != "model" || mi.Resumable || mi.Training != nil || mi.Step != nil || mi.TrainData != nil {
			t.Errorf("%s: kind %q, resumable %v, training %+v, step %v", mi.Path, mi.Kind, mi.Resumable, mi.Training, mi.Step)
		}
		if mi.SampleRate == nil || *mi.SampleRate != 16000 || mi.ReceptiveFieldMS == nil || *mi.ReceptiveFieldMS != 0.5 {
			t.Errorf("%s: rate %v, receptive field %v ms; want 16000 Hz, 0.5 ms", mi.Path, mi.SampleRate, mi.ReceptiveFieldMS)
		}
	}
	if infos[2].Speakers != nil || infos[2].SpeakerCount != 0 {
		t.Errorf("plain: speakers %v", infos[2].Speakers)
	}

	code, stdout, stderr := runTrainCLI(t, "model", few, many, plain)
	if code != 0 {
		t.Fatalf("model exited %d: %s", code, stderr)
	}
	for _, want := range []string{
		"Speakers   : 3 speakers: george, jackson, lucas\n",
		"Speakers   : 25 speakers: spk00, spk01, spk02, spk03, spk04, spk05, spk06, spk07, spk08, spk09, spk10, spk11, spk12, spk13, spk14, spk15, spk16, spk17, spk18, spk19, …\n",
		"Speakers   : none (unconditioned)\n",
		"Resumable  : no (no training state",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("text output lacks %q:\n%s", want, stdout)
		}
	}

	// A conditioned model: its speaker table against the names.
	gc := strings.Replace(tinyModel, `"residual_on_last_layer": false`, `"residual_on_last_layer": false, "global_condition": {"channels": 2, "cardinality": 3}`, 1)
	cf, err := causalconv.ParseConfig([]byte(gc))
	if err != nil {
		t.Fatal(err)
	}
	m, err := causalconv.NewRandom(cf.Model, 1)
	if err != nil {
		t.Fatal(err)
	}
	named, unnamed := filepath.Join(dir, "gc_named.safetensors"), filepath.Join(dir, "gc_unnamed.safetensors")
	if err := modelfile.SaveFile(named, m, map[string]string{modelfile.KeySampleRate: "8000", modelfile.KeySpeakers: `["a","b","c"]`}, nil); err != nil {
		t.Fatal(err)
	}
	if err := modelfile.SaveFile(unnamed, m, map[string]string{modelfile.KeySampleRate: "8000"}, nil); err != nil {
		t.Fatal(err)
	}
	infos = modelJSON(t, named, unnamed)
	if got := infos[0]; got.SpeakerCount != 3 || len(got.Speakers) != 3 || got.SpeakerNote != "" || !strings.Contains(string(got.Config), `"global_condition":{"channels":2,"cardinality":3}`) {
		t.Errorf("conditioned, named: %+v", got)
	}
	if got := infos[1]; got.SpeakerCount != 3 || got.Speakers != nil || got.SpeakerNote == "" {
		t.Errorf("conditioned, unnamed: %d speakers %v, note %q", got.SpeakerCount, got.Speakers, got.SpeakerNote)
	}
	if infos[0].Parameters != m.NumParams() {
		t.Errorf("conditioned: %d parameters, want %d", infos[0].Parameters, m.NumParams())
	}
	code, stdout, stderr = runTrainCLI(t, "model", named, unnamed)
	if code != 0 {
		t.Fatalf("model exited %d: %s", code, stderr)
	}
	for _, want := range []string{
		`global_condition {"channels":2,"cardinality":3}`,
		"Speakers   : 3 speakers: a, b, c\n",
		"Speakers   : 3 speakers, unnamed\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("text output lacks %q:\n%s", want, stdout)
		}
	}

	// A "speakers" entry that is not a list of names is an error.
	bad := filepath.Join(dir, "bad.safetensors")
	cf, _ = causalconv.ParseConfig([]byte(tinyModel))
	m, _ = causalconv.NewRandom(cf.Model, 1)
	if err := modelfile.SaveFile(bad, m, map[string]string{modelfile.KeySpeakers: `{"a": 1}`}, nil); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runTrainCLI(t, "model", bad); code != 1 || !strings.Contains(stderr, `nextsample: `+bad+`: metadata "speakers" is not a JSON list`) {
		t.Errorf("bad speakers: exit %d, stderr %s", code, stderr)
	}
}

// TestModelPyTorchExport: a file with only "model" metadata is taken to
// expect the reference preprocessing at its "sample_rate", else at
// --sample-rate, else its rate is unknown (not an error).
func TestModelPyTorchExport(t *testing.T) {
	dir := t.TempDir()
	cf, err := causalconv.ParseConfig([]byte(tinyModel))
	if err != nil {
		t.Fatal(err)
	}
	m, err := causalconv.NewRandom(cf.Model, 1)
	if err != nil {
		t.Fatal(err)
	}
	bare, withRate := filepath.Join(dir, "bare.safetensors"), filepath.Join(dir, "rate.safetensors")
	if err := modelfile.SaveFile(bare, m, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := modelfile.SaveFile(withRate, m, map[string]string{modelfile.KeySampleRate: "16000"}, nil); err != nil {
		t.Fatal(err)
	}
	infos := modelJSON(t, bare, withRate)
	if mi := infos[0]; mi.SampleRate != nil || mi.Audio != nil || mi.ReceptiveFieldMS != nil || !strings.Contains(mi.AudioAssumed, "--sample-rate") {
		t.Errorf("bare: rate %v, audio %v, assumed %q", mi.SampleRate, mi.Audio, mi.AudioAssumed)
	}
	if mi := infos[1]; mi.SampleRate == nil || *mi.SampleRate != 16000 || !strings.Contains(mi.AudioAssumed, "reference preprocessing") {
		t.Errorf("rate: rate %v, assumed %q", mi.SampleRate, mi.AudioAssumed)
	}
	// --sample-rate applies to the file that records no rate only.
	code, stdout, stderr := runTrainCLI(t, "model", "--json", "--sample-rate", "8000", bare, withRate)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, `"sample_rate":8000`) || !strings.Contains(stdout, `"sample_rate":16000`) {
		t.Errorf("--sample-rate 8000:\n%s", stdout)
	}
	code, stdout, _ = runTrainCLI(t, "model", bare)
	if code != 0 || !strings.Contains(stdout, "receptive field 8 samples, ") || !strings.Contains(stdout, "Audio      : unknown\n") {
		t.Errorf("exit %d:\n%s", code, stdout)
	}
}
