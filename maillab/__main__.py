from maillab.cli import main

main()
