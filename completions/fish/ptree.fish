# fish completion for ptree (pkit): pkit-complete answers from ptree's grammar.
function __complete_ptree
    set -lx COMP_LINE (commandline -cp)
    test -z (commandline -ct)
    and set COMP_LINE "$COMP_LINE "
    command pkit-complete ptree
end
complete -c ptree -a "(__complete_ptree)"
