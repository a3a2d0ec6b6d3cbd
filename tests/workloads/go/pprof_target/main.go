// A Go program serving net/http/pprof on 127.0.0.1 with an ephemeral port (or on the address in
// $PPROF_TARGET_ADDR), for profkit's pull tests. It prints "port <n>" once listening, keeps a
// fixed number of goroutines parked, burns CPU, allocates, and contends on a mutex and a channel
// so that every profile type has samples.
// GET /goroutines answers runtime.NumGoroutine().
package main

import (
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"
)

const parkedWorkers = 7

var sink []byte

func parked(ch chan struct{}) { <-ch }

func burnCPU() {
	x := 0
	for {
		for i := 0; i < 1000000; i++ {
			x += i * i
		}
		if x == 42 {
			fmt.Println(x)
		}
		runtime.Gosched()
	}
}

func allocate() {
	for {
		sink = make([]byte, 64<<10)
		time.Sleep(time.Millisecond)
	}
}

func contend(mu *sync.Mutex) {
	for {
		mu.Lock()
		time.Sleep(100 * time.Microsecond)
		mu.Unlock()
	}
}

func block(ch chan int) {
	for {
		ch <- 1
	}
}

func main() {
	runtime.SetMutexProfileFraction(1)
	runtime.SetBlockProfileRate(1)
	never := make(chan struct{})
	for i := 0; i < parkedWorkers; i++ {
		go parked(never)
	}
	var mu sync.Mutex
	go burnCPU()
	go allocate()
	go contend(&mu)
	go contend(&mu)
	ch := make(chan int)
	go block(ch)
	go func() {
		for range time.Tick(time.Millisecond) {
			<-ch
		}
	}()

	http.HandleFunc("/goroutines", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, strconv.Itoa(runtime.NumGoroutine()))
	})
	addr := os.Getenv("PPROF_TARGET_ADDR")
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("port %d\n", listener.Addr().(*net.TCPAddr).Port)
	os.Stdout.Sync()
	fmt.Fprintln(os.Stderr, http.Serve(listener, nil))
	os.Exit(1)
}
