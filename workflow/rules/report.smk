# The self-contained HTML report (results/{dataset}/report/index.html).


rule report:
    input:
        report_inputs(report_layout()),
    output:
        html=f"{R}/report/index.html",
    params:
        layout=report_layout(),
    log:
        f"{R}/logs/report.log",
    script:
        "../scripts/report.py"
