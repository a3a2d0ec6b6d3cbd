module profkit.test/pprof_target

go 1.19
