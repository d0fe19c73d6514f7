# The self-contained HTML report (results/{dataset}/report/index.html).


rule report:
    input:
        layouts.report_inputs(REPORT),
    output:
        html=P.report,
    log:
        f"{R}/logs/report.log",
    localrule: True  # seconds of work: on a cluster it runs on the submitting node
    params:
        layout=REPORT,
    script:
        "../scripts/report.py"
