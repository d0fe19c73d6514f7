# The self-contained HTML report (results/{dataset}/report/index.html).


rule report:
    input:
        report_inputs(report_layout()),
    output:
        html=f"{R}/report/index.html",
    log:
        f"{R}/logs/report.log",
    params:
        layout=report_layout(),
    script:
        "../scripts/report.py"
