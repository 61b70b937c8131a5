# Units and revenue per month. Runs with the working directory set to this script's folder;
# OUTPUT_PIPELINE_DIR and the project root come from the environment.
root <- Sys.getenv("DAGWRIGHT_PROJECT_ROOT", "..")
sales <- read.csv(file.path(root, "out", "clean.csv"), stringsAsFactors = FALSE)
sales$month <- substr(sales$date, 1, 7)
by_month <- aggregate(cbind(units, revenue) ~ month, data = sales, FUN = sum)
by_month$revenue <- round(by_month$revenue, 2)
write.csv(by_month, file.path(root, "out", "monthly.csv"), row.names = FALSE)
