from liveshop.order.bootstrap import main

main()
