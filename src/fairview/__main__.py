from fairview.cli import main

main()
