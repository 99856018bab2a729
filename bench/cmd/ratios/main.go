// Command ratios reads interleaved benchmark output (make micro: each round
// runs impl=contrib then impl=es back to back) and prints, per benchmark and
// unit, the median, min and max of the per-round es/contrib ratios. On a
// loaded machine a paired ratio is steadier than a ratio of medians, because
// both halves of a pair ran under the same load.
//
//	go run ./cmd/ratios results/micro.txt
package main

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: ratios micro.txt")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer f.Close()
	units := []string{"ns/span", "B/span", "allocs/span"}
	// last[bench][unit] is the latest contrib value, waiting for its es pair.
	last := map[string]map[string]float64{}
	ratios := map[string]map[string][]float64{}
	var order []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") {
			continue
		}
		name, impl, ok := strings.Cut(fields[0], "/impl=")
		if !ok {
			continue
		}
		if i := strings.LastIndexByte(impl, '-'); i > 0 {
			impl = impl[:i]
		}
		vals := map[string]float64{}
		for i := 2; i+1 < len(fields); i += 2 {
			if v, err := strconv.ParseFloat(fields[i], 64); err == nil {
				vals[fields[i+1]] = v
			}
		}
		switch impl {
		case "contrib":
			last[name] = vals
		case "es":
			c, ok := last[name]
			if !ok {
				continue
			}
			if ratios[name] == nil {
				ratios[name] = map[string][]float64{}
				order = append(order, name)
			}
			for _, u := range units {
				if c[u] > 0 {
					ratios[name][u] = append(ratios[name][u], vals[u]/c[u])
				}
			}
			delete(last, name)
		}
	}
	fmt.Println("| benchmark | unit | es/contrib median | min | max | rounds |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, name := range order {
		for _, u := range units {
			r := ratios[name][u]
			if len(r) == 0 {
				continue
			}
			slices.Sort(r)
			med := r[len(r)/2]
			if len(r)%2 == 0 {
				med = (r[len(r)/2-1] + r[len(r)/2]) / 2
			}
			fmt.Printf("| %s | %s | %.3f | %.3f | %.3f | %d |\n", strings.TrimPrefix(name, "Benchmark"), u, med, r[0], r[len(r)-1], len(r))
		}
	}
}
