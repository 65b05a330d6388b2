# fish completion for pjoin (pkit): pkit-complete answers from pjoin's grammar;
# where it has nothing to offer (a file argument), fish completes paths.
function __complete_pjoin
    set -lx COMP_LINE (commandline -cp)
    test -z (commandline -ct)
    and set COMP_LINE "$COMP_LINE "
    set -l words (command pkit-complete pjoin)
    if set -q words[1]
        printf '%s\n' $words
    else
        __fish_complete_path (commandline -ct)
    end
end
complete -c pjoin -f -a "(__complete_pjoin)"
