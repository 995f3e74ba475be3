// mmo-bench: the benchmarks of MMOBench (see `mmo-bench --help`).
import MMOBench

BenchCommand.main()
