// Package sample is the test suite scripts/testsummary's test runs
// scripts/test on: one test passes, three skip for two reasons, and one
// fails when SAMPLE_FAIL=1.
package sample

import (
	"os"
	"testing"
)

func TestPasses(t *testing.T) { t.Log("a line that is not a skip reason") }

func TestNeedsAService(t *testing.T) { t.Skip("needs a service") }

func TestNeedsTheServiceToo(t *testing.T) {
	t.Parallel()
	t.Log("logged first")
	t.Cleanup(func() {
		t.Log(`time=2026-12-06T03:01:35.239Z level=ERROR msg="relay stopped" error="context canceled"`)
	})
	t.Skip("needs a service")
}

func TestIsAMeasurement(t *testing.T) { t.Skipf("a measurement: set %s=1 to run it", "SAMPLE_MEASURE") }

func TestFailsWhenAsked(t *testing.T) {
	if os.Getenv("SAMPLE_FAIL") == "1" {
		t.Fatal("asked to fail")
	}
}
