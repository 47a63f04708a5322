from liveshop.promotion.bootstrap import main

main()
