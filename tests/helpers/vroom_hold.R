# Reads a TSV with vroom (lazily, through a shared mapping of the file) and
# holds it across a change of policy (mmap tests).
#
#     Rscript vroom_hold.R FILE FLAG
#
# Prints "mapped N" (rows) and the sum of column a; waits until FLAG exists,
# then reads column b, which vroom has not parsed yet, and prints its sum.
# A revoked mapping gets SIGBUS, which R reports as a bus error and dies.
args <- commandArgs(trailingOnly = TRUE)
d <- vroom::vroom(args[1], delim = "\t", col_types = "dd", altrep = TRUE, progress = FALSE)
cat("mapped", nrow(d), sprintf("%.0f", sum(d$a)), "\n")
flush(stdout())
deadline <- Sys.time() + 60
while (!file.exists(args[2]) && Sys.time() < deadline) Sys.sleep(0.01)
cat("touched", sprintf("%.0f", sum(d$b)), "\n")
